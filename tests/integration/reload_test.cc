// Configuration generations: SIGHUP and changed files rebuild everything,
// and nothing that was working stops working. Real peers: Python ssl
// clients (tests/integration/peers/reload_client.py), curl, openssl, nginx
// as an mTLS origin.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>

#include "support/origin.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

namespace fs = std::filesystem;
using test::contains;
using test::count_of;
using test::curl;
using test::run_process;
using test::wait_for_count;

const std::string reload_client = TLSTERM_SOURCE_DIR "/tests/integration/peers/reload_client.py";

std::string ca() {
    return test::pki("root-ca.pem").string();
}

// Rewrites the config the way a deploy does (write aside, rename over).
void rewrite(const fs::path& file, const std::string& toml) {
    test::write_file(file.string() + ".new", toml);
    fs::rename(file.string() + ".new", file);
}

// A leaf certificate for `key`, issued by the test root with `serial`
// (hex): a renewal of a test certificate. `usage` is serverAuth or
// clientAuth.
void issue(const fs::path& key, const std::string& subject, const std::string& serial,
           const std::string& usage, const fs::path& out) {
    fs::path dir = out.parent_path();
    test::write_file(dir / "ext.cnf",
                     "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=" +
                         usage + "\nsubjectAltName=DNS:localhost,DNS:tlsterm.test,IP:127.0.0.1\n");
    auto csr = run_process({"openssl", "req", "-new", "-key", key.string(), "-subj", subject,
                            "-out", (dir / "leaf.csr").string()});
    ASSERT_EQ(csr.exit_code, 0) << csr.err;
    auto crt =
        run_process({"openssl", "x509", "-req", "-in", (dir / "leaf.csr").string(), "-CA",
                     test::pki("root-ca.pem").string(), "-CAkey", test::pki("root-ca.key").string(),
                     "-set_serial", "0x" + serial, "-days", "30", "-extfile",
                     (dir / "ext.cnf").string(), "-out", (dir / "leaf.pem.new").string()});
    ASSERT_EQ(crt.exit_code, 0) << crt.err;
    fs::rename(dir / "leaf.pem.new", out);
}

struct setup {
    std::string runtime = "shards = 2\n";
    int watch_interval_s = 0;  // SIGHUP only, unless a test watches files
    std::string limits;
    std::string cert = "pki/server-ecdsa.chain.pem";
    std::string key = "pki/server-ecdsa.key";
    std::string upstreams;  // [[upstreams]] tables; "demo" is added
    uint16_t demo_port = 0;
    std::string demo_address;  // default 127.0.0.1:demo_port
    std::string extra_listeners;
};

std::string config_of(const setup& s) {
    std::string out = "[runtime]\nlog_level = \"debug\"\nwatch_interval_s = " +
                      std::to_string(s.watch_interval_s) + "\n" + s.runtime;
    if (!s.limits.empty()) {
        out += "[limits]\n" + s.limits;
    }
    out += "\n[[upstreams]]\nname = \"demo\"\naddresses = [\"" +
           (s.demo_address.empty() ? "127.0.0.1:" + std::to_string(s.demo_port) : s.demo_address) +
           "\"]\nconnect_timeout_ms = 1000\n" + s.upstreams;
    out +=
        "\n[[listeners]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\nmode = \"http\"\n"
        "upstream = \"demo\"\n[listeners.tls]\n"
        "[[listeners.tls.certificates]]\ncert = \"" +
        s.cert + "\"\nkey = \"" + s.key + "\"\n";
    out += s.extra_listeners;
    return out;
}

// reload_client.py load: keep-alive clients until finish().
class load_run {
  public:
    load_run(uint16_t port, const fs::path& dir)
        : _stop(dir / "stop"),
          _proc({"python3", "-u", reload_client, "load", std::to_string(port), ca(), "120", "8",
                 _stop.string()},
                dir / "load.log") {}

    struct result {
        int ok = 0;
        std::string failed;
        int connections = 0;
        std::string out;
    };
    result finish() {
        test::write_file(_stop, "");
        result r;
        EXPECT_EQ(_proc.wait(std::chrono::seconds(60)), 0) << _proc.output();
        r.out = _proc.output();
        std::smatch m;
        EXPECT_TRUE(
            std::regex_search(r.out, m, std::regex(R"((\d+) ok, (\d+) failed, (\d+) connections)")))
            << r.out;
        if (!m.empty()) {
            r.ok = std::stoi(m[1].str());
            r.failed = m[2].str();
            r.connections = std::stoi(m[3].str());
        }
        return r;
    }

  private:
    fs::path _stop;
    test::child_process _proc;
};

// A copy of the server-ecdsa certificate and key in `dir`, for a test that
// renews or breaks it.
setup with_own_certificate(const fs::path& dir) {
    fs::copy_file(test::pki("server-ecdsa.chain.pem"), dir / "server.pem");
    fs::copy_file(test::pki("server-ecdsa.key"), dir / "server.key");
    setup s;
    s.cert = (dir / "server.pem").string();
    s.key = (dir / "server.key").string();
    return s;
}

class ReloadTest : public ::testing::Test {
  protected:
    void start(setup s) {
        s.demo_port = demo.port();
        current = s;
        server = std::make_unique<test::tlsterm_server>(config_of(s));
    }
    // Rewrites the config from `s`, sends SIGHUP, waits for the outcome.
    bool reload(setup s, const std::string& expect = "configuration reloaded (SIGHUP)") {
        s.demo_port = demo.port();
        current = s;
        std::size_t before = count_of(server->log(), expect);
        rewrite(server->config_file(), config_of(s));
        server->process().signal(SIGHUP);
        return wait_for_count(*server, expect, before + 1);
    }
    std::string get(const std::string& path, const std::string& listener = "web") {
        return curl(server->port(listener), {path}).out;
    }

    test::upstream_server demo;
    setup current;
    std::unique_ptr<test::tlsterm_server> server;
};

TEST_F(ReloadTest, TwentyReloadsUnderLoadFailNoRequest) {
    start({});
    load_run load(server->port(), server->dir());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (int i = 0; i < 20; ++i) {
        setup s;
        // Each generation differs (limits and timeouts too: several
        // deadline lists coexist while old connections finish).
        s.limits = "idle_timeout_ms = " + std::to_string(30000 + i) +
                   "\nheader_timeout_ms = " + std::to_string(20000 + i) + "\n";
        ASSERT_TRUE(reload(s)) << server->log();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto r = load.finish();
    EXPECT_EQ(r.failed, "0") << r.out << server->log().substr(0, 4000);
    EXPECT_GT(r.ok, 200) << r.out;
    // Old connections ended after their next response: many were reopened.
    EXPECT_GT(r.connections, 8) << r.out;
    // Every replaced generation is freed once its connections are gone.
    ASSERT_TRUE(wait_for_count(*server, "freed (1 live)", 1)) << server->log();
    server->process().signal(SIGUSR1);
    ASSERT_TRUE(wait_for_count(*server, "configuration: generation 21; 1 generation(s) live", 1))
        << server->log();
    EXPECT_EQ(count_of(server->log(), "configuration generation "), 20u) << server->log();
}

TEST_F(ReloadTest, RenewedServerCertificateForNewConnectionsOnly) {
    auto dir = test::make_temp_dir("renew");
    setup s = with_own_certificate(dir);
    start(s);
    fs::path marker = dir / "go";
    test::child_process held({"python3", "-u", reload_client, "hold",
                              std::to_string(server->port()), ca(), marker.string()},
                             dir / "hold.log");
    ASSERT_TRUE(held.wait_for_output("first 200")) << held.output();
    std::smatch m;
    std::string first = held.output();
    ASSERT_TRUE(std::regex_search(first, m, std::regex(R"(serial=(\w+))")));
    std::string old_serial = m[1].str();

    issue(dir / "server.key", "/CN=localhost", "7E1057", "serverAuth", dir / "server.pem");
    ASSERT_TRUE(reload(s)) << server->log();
    auto fresh =
        run_process({"python3", reload_client, "serial", std::to_string(server->port()), ca()});
    EXPECT_EQ(fresh.out, "200 serial=7E1057\n") << fresh.err;
    // The connection opened before still works, on the certificate it got.
    test::write_file(marker, "");
    ASSERT_TRUE(held.wait_for_output("second")) << held.output();
    // ... and, its generation replaced, ends after that response.
    EXPECT_TRUE(contains(held.output(), "second 200 serial=" + old_serial + " (then closed)"))
        << held.output();
    EXPECT_NE(old_serial, "7E1057");
}

TEST_F(ReloadTest, ChangedCertificateFileIsPickedUpWithoutSignal) {
    auto dir = test::make_temp_dir("watch");
    setup s = with_own_certificate(dir);
    s.watch_interval_s = 1;
    start(s);
    // Same bytes written again: not a change.
    fs::copy_file(test::pki("server-ecdsa.chain.pem"), dir / "server.pem",
                  fs::copy_options::overwrite_existing);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    EXPECT_FALSE(contains(server->log(), "configuration reloaded")) << server->log();
    issue(dir / "server.key", "/CN=localhost", "5EE1", "serverAuth", dir / "server.pem");
    ASSERT_TRUE(wait_for_count(
        *server, "configuration reloaded (changed: " + (dir / "server.pem").string() + ")", 1))
        << server->log();
    auto fresh =
        run_process({"python3", reload_client, "serial", std::to_string(server->port()), ca()});
    EXPECT_EQ(fresh.out, "200 serial=5EE1\n") << fresh.err;
}

TEST_F(ReloadTest, BrokenFilesKeepTheRunningGeneration) {
    auto dir = test::make_temp_dir("broken");
    setup s = with_own_certificate(dir);
    s.watch_interval_s = 1;
    start(s);
    // A broken certificate: found by the watcher, reported once with the
    // key path, file and line, and the old certificate stays in service.
    test::write_file(dir / "server.pem.new", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    fs::rename(dir / "server.pem.new", dir / "server.pem");
    ASSERT_TRUE(wait_for_count(*server, "failed; still serving generation 1: ", 1))
        << server->log();
    std::string log = server->log();
    EXPECT_TRUE(contains(
        log, "listeners[0].tls.certificates[0].cert (" + server->config_file().string() + ":"))
        << log;
    EXPECT_EQ(get("/after-broken-cert"), "hello from the demo upstream: GET /after-broken-cert\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    EXPECT_EQ(count_of(server->log(), "failed; still serving generation 1: "), 1u)
        << "a failure is logged once";
    // A broken config: the error names the line.
    fs::copy_file(test::pki("server-ecdsa.chain.pem"), dir / "server.pem",
                  fs::copy_options::overwrite_existing);
    rewrite(server->config_file(), config_of(s) + "\n[limits]\nidle_timeout_ms = \"soon\"\n");
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "reload (SIGHUP) failed; still serving generation 1: ", 1))
        << server->log();
    EXPECT_TRUE(std::regex_search(server->log(), std::regex(R"(tlsterm\.toml:\d+:\d+)")))
        << server->log();
    EXPECT_EQ(get("/after-broken-config"),
              "hello from the demo upstream: GET /after-broken-config\n");
    // Fixed: the next reload succeeds.
    ASSERT_TRUE(reload(s)) << server->log();
    EXPECT_TRUE(contains(server->log(), "generation 2 in")) << server->log();
}

TEST_F(ReloadTest, SettingsThatCannotChangeAreRefusedByName) {
    start({});
    setup s;
    s.runtime = "shards = 1\n";
    ASSERT_TRUE(reload(s, "reload (SIGHUP) failed")) << server->log();
    EXPECT_TRUE(contains(server->log(), "runtime.shards cannot change while running"))
        << server->log();
    EXPECT_EQ(get("/still"), "hello from the demo upstream: GET /still\n");
}

TEST_F(ReloadTest, ListenerAddedAndRemoved) {
    start({});
    uint16_t web = server->port("web");
    setup s;
    s.extra_listeners =
        "\n[[listeners]]\nname = \"extra\"\naddress = \"127.0.0.1:0\"\nmode = \"http\"\n"
        "upstream = \"demo\"\n[listeners.tls]\n" +
        test::certificate_tables("pki/");
    ASSERT_TRUE(reload(s)) << server->log();
    ASSERT_TRUE(wait_for_count(*server, "listener extra listening on", 1)) << server->log();
    server->refresh_ports();
    EXPECT_EQ(get("/on-extra", "extra"), "hello from the demo upstream: GET /on-extra\n");
    EXPECT_EQ(get("/on-web", "web"), "hello from the demo upstream: GET /on-web\n");
    uint16_t extra = server->port("extra");

    // Now only "extra": "web" stops accepting, "extra" keeps its socket.
    std::string only_extra =
        "[runtime]\nlog_level = \"debug\"\nshards = 2\n"
        "\n[[upstreams]]\nname = \"demo\"\naddresses = [\"127.0.0.1:" +
        std::to_string(demo.port()) + "\"]\n" + s.extra_listeners;
    std::size_t before = count_of(server->log(), "configuration reloaded (SIGHUP)");
    rewrite(server->config_file(), only_extra);
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "configuration reloaded (SIGHUP)", before + 1))
        << server->log();
    EXPECT_TRUE(contains(server->log(), "listener web@127.0.0.1:0 removed")) << server->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto refused = curl(web, {"/on-web-after"});
    EXPECT_NE(refused.out, "hello from the demo upstream: GET /on-web-after\n");
    EXPECT_EQ(curl(extra, {"/extra-after"}).out,
              "hello from the demo upstream: GET /extra-after\n");
}

TEST_F(ReloadTest, UpstreamAddressChanged) {
    start({});
    EXPECT_EQ(get("/one"), "hello from the demo upstream: GET /one\n");
    // Moved to an address where nothing listens: the new pool goes there.
    setup s;
    s.demo_address = "127.0.0.1:" + std::to_string(test::unused_port());
    ASSERT_TRUE(reload(s)) << server->log();
    EXPECT_NE(get("/nowhere"), "hello from the demo upstream: GET /nowhere\n");
    // Moved again, to a second origin.
    test::upstream_server second;
    s.demo_address = "127.0.0.1:" + std::to_string(second.port());
    ASSERT_TRUE(reload(s)) << server->log();
    EXPECT_EQ(get("/two"), "hello from the demo upstream: GET /two\n");
}

// A new binary takes over the listening sockets (runtime.upgrade_socket)
// while clients keep connecting: nothing is refused, nothing fails, the old
// process drains and exits 0, and the new one can be upgraded in turn.
TEST_F(ReloadTest, BinaryUpgradeUnderLoadRefusesNothing) {
    setup s;
    s.runtime += "upgrade_socket = \"upgrade.sock\"\ndrain_timeout_ms = 10000\n";
    start(s);
    uint16_t port = server->port();
    load_run load(port, server->dir());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto next = std::make_unique<test::child_process>(
        std::vector<std::string>{TLSTERM_BINARY, server->config_file().string()},
        server->dir() / "next.log");
    ASSERT_TRUE(next->wait_for_output("took over the listening sockets of pid " +
                                      std::to_string(server->process().pid())))
        << next->output() << server->log();
    EXPECT_TRUE(
        contains(next->output(), "listener web listening on 127.0.0.1:" + std::to_string(port)))
        << next->output();
    EXPECT_EQ(server->process().wait(std::chrono::seconds(30)), 0) << server->log();
    EXPECT_TRUE(contains(server->log(), "serves now; stopped accepting")) << server->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    // Upgraded again, from the new process to a third.
    test::child_process third({TLSTERM_BINARY, server->config_file().string()},
                              server->dir() / "third.log");
    ASSERT_TRUE(third.wait_for_output("took over the listening sockets of pid " +
                                      std::to_string(next->pid())))
        << third.output() << next->output();
    EXPECT_EQ(next->wait(std::chrono::seconds(30)), 0) << next->output();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto r = load.finish();
    EXPECT_EQ(r.failed, "0") << r.out << next->output();
    EXPECT_GT(r.ok, 100) << r.out;
    EXPECT_EQ(curl(port, {"/after"}).out, "hello from the demo upstream: GET /after\n");
    third.signal(SIGTERM);
    EXPECT_EQ(third.wait(), 0) << third.output();
}

// An upstream client certificate renewed: new pooled connections present it
// to the nginx mTLS origin ($ssl_client_s_dn, $ssl_client_serial).
TEST(ReloadOriginTest, UpstreamClientCertificateRenewedSeenByOrigin) {
    test::nginx_origin origin;
    auto dir = test::make_temp_dir("client-renew");
    fs::copy_file(test::pki("client-valid.pem"), dir / "client.pem");
    fs::copy_file(test::pki("client-valid.key"), dir / "client.key");
    auto config = [&] {
        return "[runtime]\nshards = 1\nwatch_interval_s = 0\n"
               "\n[[upstreams]]\nname = \"origin\"\naddresses = [\"127.0.0.1:" +
               std::to_string(origin.mtls_port()) +
               "\"]\n[upstreams.tls]\nmode = \"mtls\"\nca_file = \"pki/root-ca.pem\"\n"
               "server_name = \"tlsterm.test\"\ncert = \"" +
               (dir / "client.pem").string() + "\"\nkey = \"" + (dir / "client.key").string() +
               "\"\n"
               "\n[[listeners]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\nmode = \"http\"\n"
               "upstream = \"origin\"\n[listeners.tls]\n" +
               test::certificate_tables("pki/");
    };
    test::tlsterm_server server(config());
    auto r = curl(server.port(), {"/headers?before"});
    ASSERT_TRUE(contains(r.out, "ssl_client=")) << r.out << r.err;
    issue(dir / "client.key", "/O=tlsterm test/CN=client-renewed", "C11E47", "clientAuth",
          dir / "client.pem");
    rewrite(server.config_file(), config());
    server.process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(server, "configuration reloaded (SIGHUP)", 1)) << server.log();
    r = curl(server.port(), {"/headers?after"});
    EXPECT_TRUE(contains(r.out, "CN=client-renewed")) << r.out << r.err;
    auto log = origin.access_log(2);
    ASSERT_GE(log.size(), 2u);
    EXPECT_FALSE(contains(log.front().client_dn, "client-renewed")) << log.front().client_dn;
    EXPECT_TRUE(contains(log.back().client_dn, "CN=client-renewed")) << log.back().client_dn;
    // The pooled connection of the old generation was retired, not reused.
    EXPECT_NE(log.front().connection, log.back().connection);
}

}  // namespace
}  // namespace tlsterm
