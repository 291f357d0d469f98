// `tlsterm --check` as an operator runs it: a real process, real files.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "support/pki.h"
#include "support/process.h"
#include "transport/kernel_tls.h"

namespace tlsterm {
namespace {

test::process_result tlsterm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {TLSTERM_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv, 60);
}

// A copy of the shipped config with the demo PKI beside it, as tools/run makes.
std::filesystem::path default_config_dir() {
    auto dir = test::make_temp_dir("cli");
    std::filesystem::copy_file(TLSTERM_SOURCE_DIR "/config/tlsterm.toml", dir / "tlsterm.toml");
    std::filesystem::create_directory_symlink(test::pki_dir(), dir / "demo");
    return dir;
}

std::size_t lines(const std::string& s) {
    return static_cast<std::size_t>(std::ranges::count(s, '\n'));
}

TEST(CheckCli, AcceptsDefaultConfig) {
    auto dir = default_config_dir();
    auto r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, (dir / "tlsterm.toml").string() +
                         ": configuration OK (1 listener, 1 upstream, 2 certificates)\n");
    EXPECT_EQ(r.err, "");
}

TEST(CheckCli, BrokenConfigPrintsOneLineAndExits1) {
    auto dir = default_config_dir();
    std::string text = test::read_text(dir / "tlsterm.toml");
    auto at = text.find("verify_depth = 4");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 16, "verify_depth = 99");
    test::write_file(dir / "tlsterm.toml", text);
    std::size_t line = 1 + static_cast<std::size_t>(std::count(
                               text.begin(), text.begin() + static_cast<long>(at), '\n'));

    auto r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err, "listeners[0].tls.verify_depth (" + (dir / "tlsterm.toml").string() + ":" +
                         std::to_string(line) + ":16): must be between 1 and 16, got 99\n");
}

// The default config with `from` replaced by `to`, whose `ktls = "on"`
// (where the kernel cannot carry TLS records: this machine's kernel has no
// CONFIG_TLS) --check refuses as a start or a reload does, in one line
// naming `key`, its line and column, `what` and what the kernel lacks;
// with "auto" it is accepted.
void expect_ktls_on_refused(const std::string& from, const std::string& to, const std::string& key,
                            const std::string& what) {
    auto probe = transport::probe_kernel_tls();
    auto dir = default_config_dir();
    std::string text = test::read_text(dir / "tlsterm.toml");
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), to);
    test::write_file(dir / "tlsterm.toml", text);
    auto on = text.find("ktls = \"on\"", at);
    std::size_t line = 1 + static_cast<std::size_t>(std::count(
                               text.begin(), text.begin() + static_cast<long>(on), '\n'));
    auto r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    if (probe) {
        std::cout << "[ ktls     ] this kernel carries TLS records: \"on\" is accepted\n";
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return;
    }
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err, key + " (" + (dir / "tlsterm.toml").string() + ":" + std::to_string(line) +
                         ":8): " + what + ": ktls = \"on\", but this kernel cannot carry TLS " +
                         "records: " + probe.error() + "\n");
    text.replace(on, 11, "ktls = \"auto\"");
    test::write_file(dir / "tlsterm.toml", text);
    r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CheckCli, KtlsOnNeedsAKernelThatCan) {
    expect_ktls_on_refused("[listeners.tls]\n", "[listeners.tls]\nktls = \"on\"\n",
                           "listeners[0].tls.ktls", "listener https");
}

// The same for a TLS upstream's pooled connections ([upstreams.tls]).
TEST(CheckCli, UpstreamKtlsOnNeedsAKernelThatCan) {
    expect_ktls_on_refused("[upstreams.tls]\nmode = \"none\"\n",
                           "[upstreams.tls]\nmode = \"tls\"\nca_file = \"demo/root-ca.pem\"\n"
                           "server_name = \"localhost\"\nktls = \"on\"\n",
                           "upstreams[0].tls.ktls", "upstream demo");
}

TEST(CheckCli, MissingCertificateNamesFileAndKey) {
    auto dir = default_config_dir();
    std::filesystem::remove(dir / "demo");
    std::filesystem::create_directory(dir / "demo");
    auto r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("listeners[0].tls.certificates[0].cert ("), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("): no such file: " + (dir / "demo" / "server-ecdsa.chain.pem").string()),
              std::string::npos)
        << r.err;
}

TEST(CheckCli, SyntaxErrorAndMissingFile) {
    auto dir = test::make_temp_dir("cli");
    test::write_file(dir / "bad.toml", "[runtime\n");
    auto r = tlsterm({"--check", (dir / "bad.toml").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind((dir / "bad.toml").string() + ":1:9: TOML syntax error: ", 0), 0u)
        << r.err;

    r = tlsterm({"--check", (dir / "absent.toml").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, (dir / "absent.toml").string() +
                         ": no such file: " + (dir / "absent.toml").string() + "\n");
}

// --check binds nothing: a config naming a port that is already taken passes.
TEST(CheckCli, BindsNoSockets) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    socklen_t len = sizeof(sin);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len), 0);
    std::string port = std::to_string(ntohs(sin.sin_port));

    auto dir = default_config_dir();
    std::string text = test::read_text(dir / "tlsterm.toml");
    auto at = text.find("127.0.0.1:8443");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 14, "127.0.0.1:" + port);
    test::write_file(dir / "tlsterm.toml", text);
    auto r = tlsterm({"--check", (dir / "tlsterm.toml").string()});
    ::close(fd);
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CheckCli, VersionAndUsage) {
    auto r = tlsterm({"--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "tlsterm 0.1.0 (wolfSSL 5.5.4)\n");
    r = tlsterm({});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("tlsterm --check FILE"), std::string::npos);
    r = tlsterm({"--bogus"});
    EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace tlsterm
