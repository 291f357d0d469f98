// tlsterm as a process, driven by real clients: curl, openssl s_client and
// Python's ssl module (OpenSSL), in front of real upstream processes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>
#include <tuple>

#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

using test::curl;
using test::run_process;

std::string ca() {
    return test::pki("root-ca.pem").string();
}

struct options {
    std::string tls_extra{"alpn = [\"http/1.1\"]\n"};
    std::string runtime{"shards = 2\n"};
    std::string limits{};
    std::string upstream_addresses{};  // overrides the upstream's addresses
};

std::string config_for(uint16_t upstream_port, const options& o = {}) {
    std::string addresses = o.upstream_addresses.empty()
                                ? "[\"127.0.0.1:" + std::to_string(upstream_port) + "\"]"
                                : o.upstream_addresses;
    return "[runtime]\n" + o.runtime + "log_level = \"debug\"\ndrain_timeout_ms = 20000\n" +
           "[limits]\n" + o.limits +
           "\n[[upstreams]]\nname = \"up\"\nconnect_timeout_ms = 1000\naddresses = " + addresses +
           R"(
[[listeners]]
name = "main"
address = "127.0.0.1:0"
upstream = "up"
[listeners.tls]
)" + o.tls_extra +
           test::certificate_tables("pki/");
}

// openssl s_client, handshake only (stdin is empty, so it closes at once).
test::process_result s_client(uint16_t port, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        "openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-CAfile", ca()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, 30);
}

using test::contains;

class ProxyTest : public ::testing::Test {
  protected:
    void SetUp() override { upstream = std::make_unique<test::upstream_server>("http"); }
    void start(const options& o = {}) {
        server = std::make_unique<test::tlsterm_server>(config_for(upstream->port(), o));
    }
    std::unique_ptr<test::upstream_server> upstream;
    std::unique_ptr<test::tlsterm_server> server;
};

TEST_F(ProxyTest, CurlGetsResponseThroughTls13AndTls12) {
    start();
    auto r = curl(server->port(), {"/hello"}, {"--tlsv1.3"});
    ASSERT_EQ(r.exit_code, 0) << r.err << server->log();
    EXPECT_EQ(r.out, "hello from the demo upstream: GET /hello\n");
    r = curl(server->port(), {"/v12"}, {"--tlsv1.2", "--tls-max", "1.2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "hello from the demo upstream: GET /v12\n");
}

TEST_F(ProxyTest, VersionsAndSuitesSeenByOpenssl) {
    start();
    auto r = s_client(server->port(), {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256")) << r.out;
    EXPECT_TRUE(contains(r.out, "Verify return code: 0 (ok)")) << r.out;
    r = s_client(server->port(), {"-tls1_2"});
    EXPECT_TRUE(contains(r.out, "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256")) << r.out;
    // CBC suites are never offered.
    r = s_client(server->port(), {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"});
    EXPECT_FALSE(contains(r.out, "Cipher is ECDHE-ECDSA-AES128-SHA")) << r.out;
    EXPECT_TRUE(contains(r.err + r.out, "alert handshake failure") ||
                contains(r.out, "Cipher is (NONE)"))
        << r.out << r.err;
}

TEST_F(ProxyTest, EachGroup) {
    start();
    for (auto [group, shown] : {std::pair{"X25519", "Server Temp Key: X25519"},
                                std::pair{"P-256", "Server Temp Key: ECDH, prime256v1"},
                                std::pair{"P-384", "Server Temp Key: ECDH, secp384r1"}}) {
        for (std::string version : {"-tls1_3", "-tls1_2"}) {
            auto r = s_client(server->port(), {version, "-groups", group});
            EXPECT_TRUE(contains(r.out, shown)) << group << version << "\n" << r.out;
            EXPECT_TRUE(contains(r.out, "Verify return code: 0 (ok)")) << r.out;
        }
    }
}

TEST_F(ProxyTest, ConfiguredGroupsAreEnforced) {
    start({.tls_extra = "groups = [\"P-384\"]\n"});
    auto r = s_client(server->port(), {"-tls1_3", "-groups", "X25519:P-384"});
    EXPECT_TRUE(contains(r.out, "Server Temp Key: ECDH, secp384r1")) << r.out;
    r = s_client(server->port(), {"-tls1_3", "-groups", "X25519"});
    EXPECT_TRUE(contains(r.out, "Cipher is (NONE)")) << r.out;
}

TEST_F(ProxyTest, SniSelectsCertificate) {
    start();
    struct sni_case {
        std::vector<std::string> args;
        const char* subject;
    };
    for (const auto& c : {sni_case{{"-servername", "tlsterm.test"}, "CN = tlsterm.test"},
                          sni_case{{"-servername", "other.test"}, "CN = other.test"},
                          sni_case{{"-servername", "api.other.test"}, "CN = other.test"},
                          sni_case{{"-servername", "x.wild.tlsterm.test"}, "CN = tlsterm.test"},
                          sni_case{{"-servername", "unknown.example"}, "CN = tlsterm.test"},
                          sni_case{{"-noservername"}, "CN = tlsterm.test"}}) {
        auto r = s_client(server->port(), c.args);
        EXPECT_TRUE(contains(r.out, std::string("subject=O = tlsterm test, ") + c.subject))
            << c.args[0] << (c.args.size() > 1 ? c.args[1] : "") << "\n"
            << r.out;
        // The full chain: leaf and intermediate.
        EXPECT_TRUE(contains(r.out, " 1 s:O = tlsterm test, CN = tlsterm Test Intermediate CA"))
            << r.out;
    }
    // curl verifies the name it asked for.
    auto r = curl(server->port(), {"/"}, {}, "api.other.test");
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ProxyTest, RsaOnlyClientGetsRsaCertificate) {
    start();
    auto r = s_client(server->port(), {"-tls1_3", "-sigalgs", "RSA-PSS+SHA256"});
    EXPECT_TRUE(contains(r.out, "Peer signature type: RSA-PSS")) << r.out;
    EXPECT_TRUE(contains(r.out, "Server public key is 2048 bit")) << r.out;
    r = s_client(server->port(), {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"});
    EXPECT_TRUE(contains(r.out, "Cipher is ECDHE-RSA-AES128-GCM-SHA256")) << r.out;
    EXPECT_TRUE(contains(r.out, "Server public key is 2048 bit")) << r.out;
    r = s_client(server->port(), {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "Peer signature type: ECDSA")) << r.out;
    EXPECT_TRUE(contains(r.out, "Server public key is 256 bit")) << r.out;
}

TEST_F(ProxyTest, AlpnByServerPreference) {
    start({.tls_extra = "alpn = [\"h2\", \"http/1.1\"]\n"});
    auto r = s_client(server->port(), {"-alpn", "http/1.1,h2"});
    EXPECT_TRUE(contains(r.out, "ALPN protocol: h2")) << r.out;
    r = s_client(server->port(), {"-alpn", "http/1.1"});
    EXPECT_TRUE(contains(r.out, "ALPN protocol: http/1.1")) << r.out;
    r = s_client(server->port(), {});
    EXPECT_TRUE(contains(r.out, "No ALPN negotiated")) << r.out;
    r = s_client(server->port(), {"-alpn", "spdy/3"});
    EXPECT_TRUE(contains(r.err + r.out, "no application protocol")) << r.out << r.err;
}

TEST_F(ProxyTest, HundredMebibytesBothWays) {
    start();
    auto dir = test::make_temp_dir("transfer");
    auto up = dir / "up.bin";
    {
        std::ofstream f(up, std::ios::binary);
        std::string block(1 << 20, '\0');
        for (int i = 0; i < 100; ++i) {
            for (std::size_t j = 0; j < block.size(); ++j) {
                block[j] = static_cast<char>((j * 31 + static_cast<std::size_t>(i)) & 0xff);
            }
            f.write(block.data(), static_cast<std::streamsize>(block.size()));
        }
    }
    // Upload 100 MiB; the upstream echoes it with its SHA-256.
    auto r = curl(server->port(), {"/echo"},
                  {"--data-binary", "@" + up.string(), "-D", (dir / "headers").string(), "-o",
                   (dir / "echo.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto sum = [](const std::filesystem::path& p) {
        return run_process({"sha256sum", p.string()}).out.substr(0, 64);
    };
    std::string expected = sum(up);
    EXPECT_TRUE(contains(test::read_text(dir / "headers"), "X-Body-SHA256: " + expected));
    EXPECT_EQ(sum(dir / "echo.bin"), expected);

    // Download 100 MiB and compare with the same bytes fetched directly.
    r = curl(server->port(), {"/bytes/104857600"}, {"-o", (dir / "down.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto direct =
        run_process({"curl", "-sS", "-o", (dir / "direct.bin").string(),
                     "http://127.0.0.1:" + std::to_string(upstream->port()) + "/bytes/104857600"},
                    120);
    ASSERT_EQ(direct.exit_code, 0) << direct.err;
    EXPECT_EQ(std::filesystem::file_size(dir / "down.bin"), 104857600u);
    EXPECT_EQ(sum(dir / "down.bin"), sum(dir / "direct.bin"));
}

TEST_F(ProxyTest, UpstreamDownGivesCleanCloseAndLogLine) {
    uint16_t dead = test::unused_port();
    start({.upstream_addresses = "[\"127.0.0.1:" + std::to_string(dead) + "\"]"});
    auto r = curl(server->port(), {"/"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.err, "Empty reply from server") || contains(r.err, "Connection reset") ||
                contains(r.err, "close notify"))
        << r.err;
    EXPECT_TRUE(server->process().wait_for_output("upstream up is down")) << server->log();
    EXPECT_TRUE(contains(server->log(), "connect failed: Connection refused")) << server->log();
}

TEST_F(ProxyTest, NextAddressAfterConnectFailure) {
    uint16_t dead = test::unused_port();
    start({.upstream_addresses = "[\"127.0.0.1:" + std::to_string(dead) +
                                 "\", \"127.0.0.1:" + std::to_string(upstream->port()) + "\"]"});
    for (int i = 0; i < 4; ++i) {
        auto r = curl(server->port(), {"/rr"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, "hello from the demo upstream: GET /rr\n");
    }
}

TEST_F(ProxyTest, NotTlsIsClosed) {
    start();
    auto r = run_process({"curl", "-sS", "--max-time", "10",
                          "http://127.0.0.1:" + std::to_string(server->port()) + "/"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(server->process().wait_for_output("not a TLS ClientHello")) << server->log();
}

TEST_F(ProxyTest, StartupFailsWhenPortInUse) {
    // A plain socket (no SO_REUSEPORT) holds the port.
    auto dir = test::make_temp_dir("inuse");
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    ::listen(fd, 1);
    socklen_t len = sizeof(sin);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    std::string busy = config_for(upstream->port());
    busy.replace(busy.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(ntohs(sin.sin_port)));
    std::filesystem::create_directory_symlink(test::pki_dir(), dir / "pki");
    test::write_file(dir / "t.toml", busy);
    auto r = run_process({TLSTERM_BINARY, (dir / "t.toml").string()}, 20);
    ::close(fd);
    EXPECT_EQ(r.exit_code, 1);
    // One error line; timestamped log records (a descriptor-limit warning,
    // say) may precede it.
    std::istringstream lines(r.err);
    std::size_t error_lines = 0;
    for (std::string line; std::getline(lines, line);) {
        error_lines += line.find("Z warn ") == std::string::npos ? 1u : 0u;
    }
    EXPECT_EQ(error_lines, 1u) << r.err;
    EXPECT_TRUE(contains(r.err, "listeners[0].address (")) << r.err;
    EXPECT_TRUE(
        contains(r.err, "cannot listen on 127.0.0.1:" + std::to_string(ntohs(sin.sin_port)) +
                            ": Address already in use"))
        << r.err;
}

TEST_F(ProxyTest, SigtermLetsTransfersFinish) {
    start();
    auto dir = test::make_temp_dir("drain");
    std::vector<std::thread> clients;
    std::vector<int> codes(3, -1);
    for (int i = 0; i < 3; ++i) {
        clients.emplace_back([&, i] {
            auto r = curl(server->port(), {"/bytes/20000000"},
                          {"--limit-rate", "8M", "-o", (dir / std::to_string(i)).string()});
            codes[static_cast<std::size_t>(i)] = r.exit_code;
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    server->process().signal(SIGTERM);
    EXPECT_TRUE(server->process().wait_for_output("stopped accepting")) << server->log();
    for (auto& t : clients) {
        t.join();
    }
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(codes[static_cast<std::size_t>(i)], 0) << i;
        EXPECT_EQ(std::filesystem::file_size(dir / std::to_string(i)), 20000000u) << i;
    }
    EXPECT_EQ(server->process().wait(), 0) << server->log();
    EXPECT_TRUE(contains(server->log(), "closed: done=3")) << server->log();
}

TEST_F(ProxyTest, ThousandConcurrentConnections) {
    start({.limits = "max_connections_per_shard = 2000\n"});
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                          "many", std::to_string(server->port()), ca(), "1000"},
                         180);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 7), "ok 1000") << r.out << r.err << server->log();
}

TEST_F(ProxyTest, DescriptorExhaustionBacksOffAndRecovers) {
    // 48 descriptors: about 15 connections fit (two descriptors each). A burst
    // of 60 must neither spin nor flood the log, and service must resume.
    server = std::make_unique<test::tlsterm_server>(
        config_for(upstream->port(), {.runtime = "shards = 1\n"}), std::vector<std::string>{},
        std::vector<std::string>{"prlimit", "--nofile=48:48"});
    // One ordinary connection first. (Under UBSan this also matters: its
    // vptr check validates an object type it has not seen yet by probing
    // memory through a pipe, which fails with no descriptor left; types it
    // has seen once are in its cache.)
    EXPECT_EQ(curl(server->port(), {"/before"}).out, "hello from the demo upstream: GET /before\n");
    auto burst =
        run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "many",
                     std::to_string(server->port()), ca(), "60"},
                    120);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(burst.out, m, std::regex(R"(ok (\d+))"))) << burst.out;
    // Some connections are accepted but cannot open their upstream socket:
    // those end cleanly (upstream_down); the rest are served.
    EXPECT_GT(std::stoi(m[1].str()), 10) << burst.out;
    std::string log = server->log();
    std::size_t accept_errors = 0;
    for (std::size_t at = 0;
         (at = log.find("accept on listener main: Too many open files", at)) != std::string::npos;
         ++at) {
        ++accept_errors;
    }
    EXPECT_GE(accept_errors, 1u) << log.substr(0, 2000);
    EXPECT_LE(accept_errors, 10u) << "accept errors are not rate-limited";
    // After the burst everything works again.
    for (int i = 0; i < 5; ++i) {
        auto r = curl(server->port(), {"/after"});
        EXPECT_EQ(r.out, "hello from the demo upstream: GET /after\n") << r.err;
    }
}

TEST_F(ProxyTest, SlowReaderKeepsMemoryBounded) {
    start({.limits = "max_buffered_bytes = 262144\n"});
    long before = server->rss_kib();
    test::child_process reader(
        {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-reader",
         std::to_string(server->port()), ca(), "/bytes/500000000", "4"},
        test::make_temp_dir("slow") / "out");
    ASSERT_TRUE(reader.wait_for_output("stalled"));
    std::this_thread::sleep_for(std::chrono::seconds(3));
    long during = server->rss_kib();
    EXPECT_EQ(reader.wait(std::chrono::seconds(30)), 0) << reader.output();
    std::smatch m;
    std::string out = reader.output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(read (\d+))"))) << out;
    EXPECT_GE(std::stol(m[1].str()), 1 << 20) << out;
    // 500 MB were offered by a loopback upstream; without backpressure
    // tlsterm would buffer hundreds of MB. It may hold its per-direction cap
    // plus allocator slack (and, under ASan, its quarantine), never the body.
    EXPECT_LT(during - before, 32 * 1024)
        << "RSS grew from " << before << " to " << during << " KiB";
    std::cout << "[ rss      ] slow reader: RSS " << before << " -> " << during << " KiB\n";
}

// Memory per idle TLS connection after its handshake: 2,000 connections
// (TLS 1.3, then TLS 1.2) held open on an HTTP listener, the resident set
// measured before and after. About 5 KiB each: 3.9 KiB of it wolfSSL's
// (SessionMemory counts it), the rest the connection, its session wrapper
// and the allocator's rounding; the HTTP forwarder is made on the first
// request byte (docs/ARCHITECTURE.md, "Memory per connection").
TEST(MemoryTest, IdleTlsConnectionsAfterTheHandshake) {
    std::string toml =
        "[runtime]\nshards = 1\nlog_level = \"info\"\n[limits]\nidle_timeout_ms = 600000\n"
        "[[upstreams]]\nname = \"up\"\naddresses = [\"127.0.0.1:" +
        std::to_string(test::unused_port()) +
        "\"]\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\nupstream = \"up\"\n"
        "mode = \"http\"\n[listeners.tls]\n" +
        test::certificate_tables("pki/");
    constexpr int connections = 2000;
    for (const char* version : {"1.3", "1.2"}) {
        test::tlsterm_server server(toml, {}, {"prlimit", "--nofile=8192:8192"});
        // A first batch warms the allocator up (its arenas) and touches
        // every buffer of the shard's receive ring (1,024 of 16 KiB, two
        // taken per handshake) so that the second measures connections only.
        auto dir = test::make_temp_dir("idle");
        test::child_process warm(
            {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "idle",
             std::to_string(server.port()), ca(), "600", version},
            dir / "warm.log");
        ASSERT_TRUE(warm.wait_for_output("open 600", std::chrono::seconds(120))) << warm.output();
        long before = server.rss_kib();
        test::child_process idle(
            {"prlimit", "--nofile=8192:8192", "python3",
             TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "idle",
             std::to_string(server.port()), ca(), std::to_string(connections), version},
            dir / "idle.log");
        ASSERT_TRUE(
            idle.wait_for_output("open " + std::to_string(connections), std::chrono::seconds(120)))
            << idle.output() << server.log();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        long after = server.rss_kib();
        double per = static_cast<double>(after - before) * 1024.0 / connections;
        std::cout << "[ rss      ] TLS " << version << ": " << connections << " idle connections, "
                  << before << " -> " << after << " KiB, " << per << " bytes each\n";
#if defined(__SANITIZE_ADDRESS__)
        (void)per;  // ASan's redzones and quarantine: no bound
#else
        EXPECT_LT(per, 6 * 1024.0) << "TLS " << version;
#endif
    }
}

TEST_F(ProxyTest, FallbackRingPathsWork) {
    // Single-shot accept and recv, no setup flags: what older kernels get.
    server = std::make_unique<test::tlsterm_server>(
        config_for(upstream->port()), std::vector<std::string>{"TLSTERM_IO_URING=minimal"});
    EXPECT_TRUE(contains(server->log(), "io_uring setup: no setup flags")) << server->log();
    EXPECT_TRUE(contains(server->log(), "minimal features requested")) << server->log();
    auto dir = test::make_temp_dir("fallback");
    auto r = curl(server->port(), {"/bytes/20000000"}, {"-o", (dir / "down.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err << server->log();
    EXPECT_EQ(std::filesystem::file_size(dir / "down.bin"), 20000000u);
    r = curl(server->port(), {"/echo"}, {"--data-binary", "fallback body"});
    EXPECT_EQ(r.out, "fallback body");
}

TEST(Listeners, SeveralListenersIpv4AndIpv6EachWithItsUpstream) {
    test::upstream_server http("http");
    test::upstream_server echo("echo-then-bye");
    std::string toml =
        "[runtime]\nshards = 2\n[[upstreams]]\nname = \"http\"\naddresses = "
        "[\"127.0.0.1:" +
        std::to_string(http.port()) +
        "\"]\n[[upstreams]]\nname = \"echo\"\naddresses = [\"127.0.0.1:" +
        std::to_string(echo.port()) + "\"]\n";
    for (auto [name, address, up] :
         {std::tuple{"v4", "127.0.0.1:0", "http"}, std::tuple{"v6", "[::1]:0", "http"},
          std::tuple{"raw", "127.0.0.1:0", "echo"}}) {
        toml += std::string("[[listeners]]\nname = \"") + name + "\"\naddress = \"" + address +
                "\"\nupstream = \"" + up +
                "\"\n[listeners.tls]\n[[listeners.tls.certificates]]\n"
                "cert = \"pki/server-ecdsa.chain.pem\"\nkey = \"pki/server-ecdsa.key\"\n";
    }
    test::tlsterm_server server(toml);
    auto r = curl(server.port("v4"), {"/four"});
    EXPECT_EQ(r.out, "hello from the demo upstream: GET /four\n") << r.err;
    r = run_process({"curl", "-sS", "-g", "--cacert", ca(), "--max-time", "20",
                     "https://[::1]:" + std::to_string(server.port("v6")) + "/six"});
    EXPECT_EQ(r.out, "hello from the demo upstream: GET /six\n") << r.err << server.log();
    auto half = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                             "half-close", std::to_string(server.port("raw")), ca()},
                            30);
    EXPECT_EQ(half.out, "'pingBYE\\n' close_notify\n") << half.err;
}

// Shard threads are named and, with pin_cpus, each bound to its own CPU.
TEST_F(ProxyTest, ShardThreadsArePinned) {
    start({.runtime = "shards = 2\npin_cpus = true\n"});
    auto tasks = std::filesystem::path("/proc") / std::to_string(server->process().pid()) / "task";
    std::vector<std::string> allowed;
    for (const auto& t : std::filesystem::directory_iterator(tasks)) {
        std::string comm = test::read_text(t.path() / "comm");
        if (comm.rfind("tlsterm-shard-", 0) != 0) {
            continue;
        }
        std::string status = test::read_text(t.path() / "status");
        auto at = status.find("Cpus_allowed_list:");
        ASSERT_NE(at, std::string::npos);
        auto value = status.substr(at + 18, status.find('\n', at) - at - 18);
        value.erase(0, value.find_first_not_of(" \t"));
        allowed.push_back(comm.substr(0, comm.size() - 1) + "=" + value);
    }
    std::sort(allowed.begin(), allowed.end());
    ASSERT_EQ(allowed.size(), 2u);
    // tlsterm inherits this process's CPU set and pins shard N to its N-th CPU.
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof(set), &set), 0);
    std::vector<int> usable;
    for (int i = 0; i < CPU_SETSIZE; ++i) {
        if (CPU_ISSET(static_cast<std::size_t>(i), &set)) {
            usable.push_back(i);
        }
    }
    if (usable.size() < 2) {
        GTEST_SKIP() << "pinning two shards to distinct CPUs needs 2 usable CPUs, this process "
                        "has "
                     << usable.size();
    }
    EXPECT_EQ(allowed[0], "tlsterm-shard-0=" + std::to_string(usable[0]));
    EXPECT_EQ(allowed[1], "tlsterm-shard-1=" + std::to_string(usable[1]));
    auto r = curl(server->port(), {"/pinned"});
    EXPECT_EQ(r.out, "hello from the demo upstream: GET /pinned\n") << r.err;
}

class RawProxyTest : public ::testing::Test {};

TEST_F(RawProxyTest, HalfClosePropagatesBothWays) {
    test::upstream_server up("echo-then-bye");
    test::tlsterm_server server(config_for(up.port()));
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                          "half-close", std::to_string(server.port()), ca()},
                         30);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // The client's FIN reached the upstream (it said BYE only at EOF), and
    // the upstream's close reached the client as close_notify.
    EXPECT_EQ(r.out, "'pingBYE\\n' close_notify\n") << r.err << server.log();
}

TEST_F(RawProxyTest, UpstreamResetReachesClient) {
    test::upstream_server up("reset");
    test::tlsterm_server server(config_for(up.port()));
    auto r = curl(server.port(), {"/"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(server.process().wait_for_output("closed: upstream_reset")) << server.log();
}

TEST_F(RawProxyTest, HandshakeAndIdleTimeouts) {
    test::upstream_server up("greet-and-hold");
    test::tlsterm_server server(
        config_for(up.port(), {.limits = "handshake_timeout_ms = 300\nidle_timeout_ms = 1000\n"}));
    // A client that connects and says nothing.
    auto quiet = run_process(
        {"python3", "-c",
         "import socket,time;s=socket.create_connection(('127.0.0.1'," +
             std::to_string(server.port()) + "));s.settimeout(5);print(repr(s.recv(10)))"},
        20);
    EXPECT_EQ(quiet.out, "b''\n") << quiet.err;
    EXPECT_TRUE(server.process().wait_for_output("closed: handshake_timeout")) << server.log();
    // A client that completes the handshake, reads the greeting, then idles.
    auto idle = run_process({"openssl", "s_client", "-quiet", "-connect",
                             "127.0.0.1:" + std::to_string(server.port()), "-CAfile", ca()},
                            20);
    EXPECT_TRUE(contains(idle.out, "HELLO")) << idle.out << idle.err;
    EXPECT_TRUE(server.process().wait_for_output("closed: idle_timeout")) << server.log();
}

TEST_F(RawProxyTest, ConnectionLimitPerShard) {
    test::upstream_server up("greet-and-hold");
    test::tlsterm_server server(config_for(
        up.port(), {.runtime = "shards = 1\n", .limits = "max_connections_per_shard = 2\n"}));
    std::vector<std::unique_ptr<test::child_process>> held;
    for (int i = 0; i < 2; ++i) {
        held.push_back(std::make_unique<test::child_process>(
            std::vector<std::string>{"openssl", "s_client", "-quiet", "-connect",
                                     "127.0.0.1:" + std::to_string(server.port()), "-CAfile", ca()},
            test::make_temp_dir("limit") / "out"));
        ASSERT_TRUE(held.back()->wait_for_output("HELLO"));
    }
    auto third = run_process({"openssl", "s_client", "-connect",
                              "127.0.0.1:" + std::to_string(server.port()), "-CAfile", ca()},
                             20);
    EXPECT_TRUE(contains(third.out, "Cipher is (NONE)")) << third.out;
    held.clear();  // the held clients go away, so the drain is quick
    server.process().signal(SIGTERM);
    EXPECT_EQ(server.process().wait(std::chrono::seconds(40)), 0);
    EXPECT_TRUE(contains(server.log(), "too_many_connections=1")) << server.log();
}

}  // namespace
}  // namespace tlsterm
