// Client certificate authentication end to end: tlsterm as a process, curl
// and openssl s_client presenting the identities of tools/gen-pki, CRLs from
// files and from a local HTTP server, reloads while clients handshake.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <thread>

#include "support/openssl.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

namespace fs = std::filesystem;
using test::run_process;

using test::contains;
using test::s_client;
using test::wait_for_count;

// The config of one listener in front of the demo upstream. `tls` holds the
// client-auth keys (and any [[listeners.tls.sni]] tables come after the
// certificates); `top` goes before the upstreams.
std::string config(uint16_t upstream_port, const std::string& tls, const std::string& sni = "",
                   const std::string& top = "") {
    return "[runtime]\nshards = 2\nlog_level = \"debug\"\n" + top +
           "\n[[upstreams]]\nname = \"up\"\naddresses = [\"127.0.0.1:" +
           std::to_string(upstream_port) + "\"]\n" +
           R"(
[[listeners]]
name = "main"
address = "127.0.0.1:0"
upstream = "up"
[listeners.tls]
)" + tls + "\n" +
           test::certificate_tables("pki/") + sni;
}

std::string abs(const std::string& name) {
    return test::pki(name).string();
}

// How the server names a PKI file its config gives as "pki/NAME".
std::string pki_path(const std::string& name) {
    return "/pki/" + name;
}

// curl GET / with `client`'s certificate ("" = none); the HTTP status, or
// "000" when the handshake failed.
std::string status_of(uint16_t port, const std::string& client,
                      const std::string& host = "localhost",
                      const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"curl",       "-s",
                                     "-o",         "/dev/null",
                                     "-w",         "%{http_code}",
                                     "--cacert",   abs("root-ca.pem"),
                                     "--resolve",  host + ":" + std::to_string(port) + ":127.0.0.1",
                                     "--max-time", "20"};
    if (!client.empty()) {
        argv.insert(argv.end(),
                    {"--cert", test::client_certificate(client), "--key", abs(client + ".key")});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("https://" + host + ":" + std::to_string(port) + "/");
    return run_process(argv, 30).out;
}

// Waits until one line of the server log contains both `a` and `b`.
bool wait_for_line(test::tlsterm_server& s, const std::string& a, const std::string& b) {
    for (int i = 0; i < 200; ++i) {
        std::string log = s.log();
        for (auto at = log.find(a); at != std::string::npos; at = log.find(a, at + 1)) {
            auto begin = log.rfind('\n', at);
            begin = begin == std::string::npos ? 0 : begin;
            std::string line = log.substr(begin, log.find('\n', at) - begin);
            if (contains(line, b)) {
                return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

const std::string all_crls =
    "crl_files = [\"pki/root-ca.crl.pem\", \"pki/intermediate-ca.crl.der\", "
    "\"pki/root-ca-delta.crl.pem\"]\n";

class ClientAuthTest : public ::testing::Test {
  protected:
    void SetUp() override { upstream = std::make_unique<test::upstream_server>("http"); }
    void start(const std::string& tls, const std::string& sni = "", const std::string& top = "") {
        server = std::make_unique<test::tlsterm_server>(config(upstream->port(), tls, sni, top));
    }
    std::unique_ptr<test::upstream_server> upstream;
    std::unique_ptr<test::tlsterm_server> server;
};

TEST_F(ClientAuthTest, RequireAcceptsValidAndNamesEveryRejection) {
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    const uint16_t port = server->port();
    EXPECT_EQ(status_of(port, "client-valid"), "200") << server->log();
    EXPECT_EQ(status_of(port, "client-intermediate"), "200") << server->log();
    struct refused {
        std::string client;
        std::string reason;
        std::string detail;
    };
    for (const auto& r : {
             refused{"", "no_certificate", "sent no certificate"},
             refused{"client-revoked", "revoked", "CN=client-revoked) is revoked by CRL"},
             refused{
                 "client-delta-revoked", "revoked",
                 pki_path("root-ca-delta.crl.pem") + " of /O=tlsterm test/CN=tlsterm Test Root CA"},
             refused{"client-expired", "expired", "CN=client-expired"},
             refused{"client-not-yet-valid", "not_yet_valid", "CN=client-not-yet-valid"},
             refused{"client-unknown-ca", "unknown_ca", "CN=client-unknown-ca"},
             refused{"client-intermediate-revoked", "revoked",
                     pki_path("intermediate-ca.crl.der") +
                         " of /O=tlsterm test/CN=tlsterm Test Intermediate CA"},
             // The leaf is fine; its issuer is revoked in the root's CRL.
             refused{"client-under-revoked-intermediate", "revoked",
                     "CN=tlsterm Revoked Intermediate CA) is revoked"},
         }) {
        EXPECT_EQ(status_of(port, r.client), "000") << r.client;
        EXPECT_TRUE(
            wait_for_line(*server, "client certificate rejected (" + r.reason + "): ", r.detail))
            << r.client << "\n"
            << server->log();
    }
}

TEST_F(ClientAuthTest, BadSignatureIsNamed) {
    // client-valid with one bit of its signature flipped.
    auto dir = test::make_temp_dir("bad-signature");
    auto r = run_process({"sh", "-c",
                          "openssl x509 -in " + abs("client-valid.pem") + " -outform DER -out " +
                              (dir / "c.der").string() +
                              " && python3 -c \"import sys; "
                              "b = bytearray(open(sys.argv[1], 'rb').read()); b[-3] ^= 1; "
                              "open(sys.argv[1], 'wb').write(b)\" " +
                              (dir / "c.der").string() + " && openssl x509 -inform DER -in " +
                              (dir / "c.der").string() + " -out " + (dir / "c.pem").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    auto curl = run_process(
        {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", abs("root-ca.pem"),
         "--resolve", "localhost:" + std::to_string(server->port()) + ":127.0.0.1", "--cert",
         (dir / "c.pem").string(), "--key", abs("client-valid.key"),
         "https://localhost:" + std::to_string(server->port()) + "/"},
        30);
    EXPECT_EQ(curl.out, "000");
    EXPECT_TRUE(
        wait_for_line(*server, "client certificate rejected (bad_signature): ", "CN=client-valid"))
        << server->log();
}

TEST_F(ClientAuthTest, AlertsSayWhy) {
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    const uint16_t port = server->port();
    auto r = s_client(port, "", {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "alert certificate required")) << r.out;
    r = s_client(port, "client-expired", {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "alert certificate expired")) << r.out;
    r = s_client(port, "client-unknown-ca", {"-tls1_2"});
    EXPECT_TRUE(contains(r.out, "alert unknown ca")) << r.out;
    r = s_client(port, "client-revoked", {"-tls1_2"});
    EXPECT_TRUE(contains(r.out, "alert bad certificate")) << r.out;
    r = s_client(port, "client-valid", {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "Verify return code: 0 (ok)")) << r.out;
    EXPECT_FALSE(contains(r.out, "alert")) << r.out;
}

TEST_F(ClientAuthTest, OptionalAcceptsNoCertificateButNotABadOne) {
    start("client_auth = \"optional\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    const uint16_t port = server->port();
    EXPECT_EQ(status_of(port, ""), "200");
    EXPECT_EQ(status_of(port, "client-valid"), "200");
    EXPECT_EQ(status_of(port, "client-revoked"), "000");
    EXPECT_EQ(status_of(port, "client-unknown-ca"), "000");
    EXPECT_EQ(status_of(port, "client-expired"), "000");
    EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (", 3)) << server->log();
}

TEST_F(ClientAuthTest, NoneRequestsNoCertificate) {
    start("client_auth = \"none\"\n");
    auto r = s_client(server->port(), "", {"-tls1_2"});
    EXPECT_TRUE(contains(r.out, "No client certificate CA names sent")) << r.out;
    EXPECT_FALSE(contains(r.out, "alert")) << r.out;
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "200");
}

TEST_F(ClientAuthTest, PerSniPolicies) {
    start("client_auth = \"none\"\n" + all_crls, R"(
[[listeners.tls.sni]]
names = ["api.tlsterm.test"]
client_auth = "require"
ca_files = ["pki/ca-bundle.pem"]
[[listeners.tls.sni]]
names = ["*.wild.tlsterm.test"]
client_auth = "optional"
ca_files = ["pki/ca-bundle.pem"]
[[listeners.tls.sni]]
names = [""]
client_auth = "require"
ca_files = ["pki/ca-bundle.pem"]
[[listeners.tls.sni]]
names = ["tlsterm.test"]
client_auth = "require"
ca_files = ["pki/unknown-ca.pem"]
crl_policy = "optional"
)");
    const uint16_t port = server->port();
    // The listener's own policy: nothing asked.
    EXPECT_EQ(status_of(port, "", "localhost"), "200");
    EXPECT_EQ(status_of(port, "client-revoked", "www.tlsterm.test"), "200");
    // Exact name: required.
    EXPECT_EQ(status_of(port, "", "api.tlsterm.test"), "000");
    EXPECT_EQ(status_of(port, "client-valid", "api.tlsterm.test"), "200");
    EXPECT_EQ(status_of(port, "client-revoked", "api.tlsterm.test"), "000");
    // Wildcard: optional, but a bad certificate still fails.
    EXPECT_EQ(status_of(port, "", "a.wild.tlsterm.test"), "200");
    EXPECT_EQ(status_of(port, "client-revoked", "a.wild.tlsterm.test"), "000");
    // Its own CA bundle: the unknown CA's client is the one accepted there.
    EXPECT_EQ(status_of(port, "client-unknown-ca", "tlsterm.test"), "200");
    EXPECT_EQ(status_of(port, "client-valid", "tlsterm.test"), "000");
    // No server name at all: the "" table.
    auto r = s_client(port, "", {"-noservername", "-tls1_3"});
    EXPECT_TRUE(contains(r.out, "alert certificate required")) << r.out;
    r = s_client(port, "client-valid", {"-noservername", "-tls1_3"});
    EXPECT_FALSE(contains(r.out, "alert")) << r.out;
}

TEST_F(ClientAuthTest, AllowListsOnSubjectAndSan) {
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls +
          "allow_sans = [\"spiffe://tlsterm.test/client/client-valid\"]\n"
          "allow_subjects = [\"/O=tlsterm test/CN=client-inter*\"]\n");
    const uint16_t port = server->port();
    EXPECT_EQ(status_of(port, "client-valid"), "200");         // by SAN
    EXPECT_EQ(status_of(port, "client-intermediate"), "200");  // by subject
    EXPECT_EQ(status_of(port, "client-delta-revoked"), "000");
    EXPECT_EQ(status_of(port, "client-not-yet-valid"), "000");
    // A subject match does not bypass revocation.
    EXPECT_EQ(status_of(port, "client-intermediate-revoked"), "000");
    server.reset();
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" +
          std::string("crl_files = [\"pki/root-ca.crl.pem\", \"pki/intermediate-ca.crl.der\"]\n") +
          "allow_sans = [\"*@tlsterm.test\"]\nallow_subjects = [\"/CN=nobody\"]\n");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    server.reset();
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls +
          "allow_subjects = [\"/O=tlsterm test/CN=client-valid\"]\n");
    EXPECT_EQ(status_of(server->port(), "client-intermediate"), "000");
    EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (not_allowed)", 1))
        << server->log();
}

TEST_F(ClientAuthTest, CrlPolicies) {
    // required (the default with CRLs): the intermediate has no CRL here.
    start(
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\", "
        "{ file = \"pki/intermediate-ca.pem\", crl_policy = \"optional\" }]\n"
        "crl_files = [\"pki/root-ca.crl.pem\"]\n");
    EXPECT_EQ(status_of(server->port(), "client-intermediate"), "200");
    EXPECT_EQ(status_of(server->port(), "client-intermediate-revoked"), "200");  // no CRL held
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    server.reset();

    // An issuer the client sends (not configured) falls under the
    // listener's crl_policy: "required" refuses what it cannot check.
    start(
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\n"
        "crl_files = [\"pki/root-ca-empty.crl.pem\"]\n");
    EXPECT_EQ(status_of(server->port(), "client-under-revoked-intermediate"), "000");
    EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (missing_crl)", 1))
        << server->log();
    EXPECT_TRUE(contains(server->log(),
                         "no CRL held for its issuer /O=tlsterm test/CN=tlsterm "
                         "Revoked Intermediate CA"))
        << server->log();
    server.reset();

    // leaf-only: CA certificates are not checked, leaves are.
    std::string both =
        "ca_files = [\"pki/root-ca.pem\", \"pki/revoked-intermediate-ca.pem\"]\n"
        "crl_files = [\"pki/root-ca.crl.pem\", "
        "\"pki/revoked-intermediate-ca.crl.pem\"]\n";
    start("client_auth = \"require\"\ncrl_policy = \"leaf-only\"\n" + both);
    EXPECT_EQ(status_of(server->port(), "client-under-revoked-intermediate"), "200")
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    server.reset();
    start("client_auth = \"require\"\ncrl_policy = \"required\"\n" + both);
    EXPECT_EQ(status_of(server->port(), "client-under-revoked-intermediate"), "000");
}

TEST_F(ClientAuthTest, AnIntermediateCanBeTheAnchor) {
    // Only the intermediate is trusted, not the root above it: the
    // intermediate is the anchor and is not itself checked against a CRL.
    start(
        "client_auth = \"require\"\nca_files = [\"pki/intermediate-ca.pem\"]\n"
        "crl_files = [\"pki/intermediate-ca.crl.der\"]\n");
    auto get = [&](const std::string& client) {
        return run_process({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            abs("root-ca.pem"), "--resolve",
                            "localhost:" + std::to_string(server->port()) + ":127.0.0.1", "--cert",
                            abs(client + ".pem"), "--key", abs(client + ".key"),
                            "https://localhost:" + std::to_string(server->port()) + "/"},
                           30)
            .out;
    };
    EXPECT_EQ(get("client-intermediate"), "200") << server->log();
    EXPECT_EQ(get("client-intermediate-revoked"), "000");
    EXPECT_TRUE(wait_for_line(
        *server, "client certificate rejected (revoked): ", "CN=client-intermediate-revoked"))
        << server->log();
}

TEST_F(ClientAuthTest, StaleCrlPolicies) {
    const std::string base =
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\n"
        "crl_files = [\"pki/root-ca-stale.crl.pem\"]\n";
    start(base);  // crl_stale = "reject" by default
    EXPECT_EQ(status_of(server->port(), "client-valid"), "000");
    EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (stale_crl)", 1))
        << server->log();
    EXPECT_TRUE(contains(server->log(), pki_path("root-ca-stale.crl.pem") +
                                            " of /O=tlsterm test/CN=tlsterm Test Root CA is "
                                            "past its nextUpdate"))
        << server->log();
    server.reset();

    start(base + "crl_stale = \"warn\"\n");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");  // still revoked
    EXPECT_TRUE(wait_for_count(*server, "accepted certificate serial", 1)) << server->log();
    server.reset();

    // Ten days past nextUpdate: inside a 30-day grace, outside a 1-day one.
    start(base + "crl_stale = \"grace\"\ncrl_grace_s = 2592000\n");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    server.reset();
    start(base + "crl_stale = \"grace\"\ncrl_grace_s = 86400\n");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "000");
}

// A copy of a PKI file that a test may overwrite.
class CrlReloadTest : public ClientAuthTest {
  protected:
    void SetUp() override {
        ClientAuthTest::SetUp();
        dir = test::make_temp_dir("crl-reload");
        crl = dir / "root.crl";
        fs::copy_file(test::pki("root-ca-empty.crl.der"), crl);
    }
    // Replaces the CRL file the way an operator's deploy does: write aside,
    // then rename over it.
    void replace_crl(const std::string& contents) {
        test::write_file(dir / "root.crl.new", contents);
        fs::rename(dir / "root.crl.new", crl);
    }
    fs::path dir;
    fs::path crl;
};

TEST_F(CrlReloadTest, SighupAddsARevocation) {
    start("client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\ncrl_files = [\"" +
              crl.string() + "\"]\n",
          "", "[crl]\ncheck_interval_s = 0\n");
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "200");
    replace_crl(test::read_text(test::pki("root-ca.crl.der")));
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "CRL " + crl.string() + ": 1 CRL(s), 2 entries", 1))
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
}

TEST_F(CrlReloadTest, FileChangeIsPickedUpWithoutSignal) {
    start("client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\ncrl_files = [\"" +
              crl.string() + "\"]\n",
          "", "[crl]\ncheck_interval_s = 1\n");
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "200");
    replace_crl(test::read_text(test::pki("root-ca.crl.pem")));
    ASSERT_TRUE(wait_for_count(*server, "CRL " + crl.string() + ": 1 CRL(s), 2 entries", 1))
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
}

TEST_F(CrlReloadTest, CorruptCrlKeepsTheOldSet) {
    fs::copy_file(test::pki("root-ca.crl.der"), crl, fs::copy_options::overwrite_existing);
    start("client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\ncrl_files = [\"" +
              crl.string() + "\"]\n",
          "", "[crl]\ncheck_interval_s = 0\n");
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    // Truncated, then signed by another CA: both keep the loaded CRL.
    std::string good = test::read_text(test::pki("root-ca.crl.der"));
    replace_crl(good.substr(0, good.size() / 2));
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "keeping the CRLs loaded before", 1)) << server->log();
    EXPECT_TRUE(contains(server->log(), "CRL " + crl.string() + ": not a valid CRL"))
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    replace_crl(test::read_text(test::pki("unknown-ca.crl.der")));
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "keeping the CRLs loaded before", 2)) << server->log();
    EXPECT_TRUE(contains(server->log(), "which is not a CA in ca_files")) << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
}

TEST_F(CrlReloadTest, ReloadsWhileClientsHandshake) {
    start("client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\ncrl_files = [\"" +
              crl.string() + "\"]\n",
          "", "[crl]\ncheck_interval_s = 0\n");
    // 400 handshakes with a valid certificate, 200 at a time, while the CRL
    // is reloaded (alternating empty and full) over and over.
    std::atomic<bool> done{false};
    std::thread reloader([&] {
        bool full = false;
        int reloads = 0;
        while (!done.load() && reloads < 400) {
            full = !full;
            replace_crl(
                test::read_text(test::pki(full ? "root-ca.crl.der" : "root-ca-empty.crl.der")));
            server->process().signal(SIGHUP);
            ++reloads;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    auto r = run_process(
        {"python3", std::string(TLSTERM_SOURCE_DIR) + "/tests/integration/peers/tls_client.py",
         "mtls", std::to_string(server->port()), abs("root-ca.pem"), abs("client-valid.pem"),
         abs("client-valid.key"), "400", "200"},
        120);
    done = true;
    reloader.join();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "400 ok, 0 failed")) << r.out << r.err << server->log();
    EXPECT_TRUE(wait_for_count(*server, "configuration reloaded (SIGHUP)", 5)) << server->log();
    EXPECT_FALSE(contains(server->log(), "client certificate rejected")) << server->log();
}

TEST_F(CrlReloadTest, CrlFetchedOverHttpAndRefreshed) {
    // A plain HTTP server publishing the CRL, as a CA's distribution point does.
    uint16_t http_port = test::unused_port();
    test::child_process http({"python3", "-u", "-m", "http.server", std::to_string(http_port),
                              "--bind", "127.0.0.1", "--directory", dir.string()},
                             dir / "http.log");
    ASSERT_TRUE(http.wait_for_output("Serving HTTP")) << http.output();
    std::string url = "http://127.0.0.1:" + std::to_string(http_port) + "/root.crl";
    start("client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\ncrl_urls = [\"" + url +
              "\"]\n",
          "", "[crl]\ncheck_interval_s = 0\nrefresh_interval_s = 1\n");
    EXPECT_TRUE(contains(server->log(), "CRL " + url + ": 1 CRL(s), 0 entries")) << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "200");

    // The publisher's new CRL is picked up by the refresh interval alone.
    replace_crl(test::read_text(test::pki("root-ca.crl.der")));
    ASSERT_TRUE(wait_for_count(*server, "CRL " + url + ": 1 CRL(s), 2 entries", 1))
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");

    // The publisher goes away: the fetch fails, is logged, and the last
    // good CRL stays in force.
    http.signal(SIGTERM);
    http.wait();
    server->process().signal(SIGHUP);
    ASSERT_TRUE(wait_for_count(*server, "keeping the CRLs loaded before", 1)) << server->log();
    EXPECT_TRUE(contains(server->log(), "CRL " + url + ": connect to 127.0.0.1:")) << server->log();
    EXPECT_EQ(status_of(server->port(), "client-revoked"), "000");
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    // SIGUSR1 reports each CRL source and the counters.
    server->process().signal(SIGUSR1);
    ASSERT_TRUE(wait_for_count(*server, "last refresh failed: connect to", 1)) << server->log();
    EXPECT_TRUE(contains(server->log(), "rejected: revoked=2")) << server->log();
    // ... and what the shards' log buffers dropped or suppressed.
    EXPECT_TRUE(contains(server->log(),
                         "log: 0 records dropped (a shard's log buffer full), 0 "
                         "suppressed"))
        << server->log();
}

// ---- resumption and the library's defaults ----------------------------------

const std::string get_request =
    "GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";

// The same config with the listener in HTTP mode.
std::string http_mode(std::string toml) {
    toml.replace(toml.find("upstream = \"up\"\n"), 15, "upstream = \"up\"\nmode = \"http\"");
    return toml;
}

// A client that completed a handshake with a certificate comes back with
// the session state it was given and no certificate: on TLS 1.2 tickets and
// TLS 1.3 it resumes (tlsterm sealed the identity into the ticket and checks
// it again now), on TLS 1.2 without tickets nothing resumes (no session
// cache). Once the certificate is revoked, its tickets resume nothing: a
// full handshake, where the certificate gets its alert; in both modes.
TEST_F(CrlReloadTest, RevokedCertificatesTicketsResumeNothing) {
    const std::vector<std::vector<std::string>> variants = {
        {"-tls1_2"}, {"-tls1_2", "-no_ticket"}, {"-tls1_3"}};
    for (bool http : {false, true}) {
        replace_crl(test::read_text(test::pki("root-ca-empty.crl.der")));
        std::string toml = config(upstream->port(),
                                  "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\n"
                                  "crl_files = [\"" +
                                      crl.string() + "\"]\n",
                                  "", "[crl]\ncheck_interval_s = 0\n");
        server = std::make_unique<test::tlsterm_server>(http ? http_mode(toml) : toml);
        const uint16_t port = server->port();
        std::vector<fs::path> sessions;
        for (const auto& v : variants) {
            std::string what = (http ? "http " : "tcp ") + v[0] + (v.size() > 1 ? " " + v[1] : "");
            bool tickets = v.size() == 1;
            fs::path session = dir / ("session-" + std::to_string(sessions.size()) + ".pem");
            sessions.push_back(session);
            auto args = v;
            args.insert(args.end(), {"-sess_out", session.string()});
            auto first = s_client(port, "client-revoked", args, get_request);
            EXPECT_TRUE(contains(first.out, "HTTP/1.1 200 OK")) << what << "\n" << first.out;
            if (!tickets) {
                // No ticket asked for, and no session cache: no session ID.
                EXPECT_FALSE(contains(first.out, "TLS session ticket:")) << what << first.out;
                EXPECT_TRUE(contains(first.out, "Session-ID: \n")) << what << "\n" << first.out;
            }
            if (!fs::exists(session)) {
                EXPECT_FALSE(tickets) << what;
                continue;  // s_client saves only a session it could resume
            }
            auto again = v;
            again.insert(again.end(), {"-sess_in", session.string()});
            auto back = s_client(port, "", again, get_request);
            EXPECT_EQ(contains(back.out, "Reused,"), tickets) << what << "\n" << back.out;
            EXPECT_EQ(contains(back.out, "HTTP/1.1 200"), tickets) << what << "\n" << back.out;
        }
        // The certificate is revoked now: its tickets are refused, and the
        // full handshake refuses the certificate.
        replace_crl(test::read_text(test::pki("root-ca.crl.der")));
        server->process().signal(SIGHUP);
        ASSERT_TRUE(wait_for_count(*server, "CRL " + crl.string() + ": 1 CRL(s), 2 entries", 1))
            << server->log();
        std::size_t rejected = 0;
        for (std::size_t i = 0; i < variants.size(); ++i) {
            for (const char* cert : {"", "client-revoked"}) {
                auto args = variants[i];
                if (fs::exists(sessions[i])) {
                    args.insert(args.end(), {"-sess_in", sessions[i].string()});
                }
                auto r = s_client(port, cert, args, get_request);
                EXPECT_FALSE(contains(r.out, "Reused,")) << variants[i][0] << "\n" << r.out;
                EXPECT_FALSE(contains(r.out, "HTTP/1.1 200")) << variants[i][0] << "\n" << r.out;
                if (*cert != 0) {
                    EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (revoked)",
                                               ++rejected))
                        << server->log();
                }
            }
        }
        server->process().signal(SIGUSR1);
        EXPECT_TRUE(wait_for_count(*server, "refused: revoked=4", 1)) << server->log();
        EXPECT_FALSE(contains(server->log(), "unauthenticated connection")) << server->log();
        server.reset();
        for (const auto& p : sessions) {
            fs::remove(p);
        }
    }
}

// Clients that kept a ticket from the server that had the name before
// (OpenSSL's tickets, as nginx and HAProxy issue, are longer than
// wolfSSL's 174-byte limit) get a full handshake.
TEST_F(ClientAuthTest, TicketsFromAnotherServerGetAFullHandshake) {
    auto dir = test::make_temp_dir("foreign-tickets");
    uint16_t other = test::unused_port();
    test::child_process openssl_server(
        {"openssl", "s_server", "-accept", std::to_string(other), "-cert", abs("server-ecdsa.pem"),
         "-key", abs("server-ecdsa.key"), "-www"},
        dir / "s_server.log");
    ASSERT_TRUE(openssl_server.wait_for_output("ACCEPT")) << openssl_server.output();
    start(
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\n"
        "crl_files = [\"pki/root-ca.crl.pem\"]\n");
    for (std::string v : {"-tls1_2", "-tls1_3"}) {
        fs::path session = dir / (v.substr(1) + ".pem");
        s_client(other, "", {v, "-sess_out", session.string()});
        ASSERT_TRUE(fs::exists(session)) << v;
        EXPECT_GT(test::session_ticket(session).size(), 174u) << v;
        // Offered on its own version, and a TLS 1.2 ticket in a TLS 1.3 hello.
        std::vector<std::vector<std::string>> offers = {{v, "-sess_in", session.string()}};
        if (v == "-tls1_2") {
            offers.push_back({"-sess_in", session.string()});
        }
        for (const auto& offer : offers) {
            auto r = s_client(server->port(), "client-valid", offer, get_request);
            EXPECT_TRUE(contains(r.out, "New, TLSv1.")) << v << "\n" << r.out;
            EXPECT_TRUE(contains(r.out, "HTTP/1.1 200 OK")) << v << "\n" << r.out;
        }
    }
    EXPECT_FALSE(contains(server->log(), "handshake failed")) << server->log();
}

// What a peer can see of the wolfSSL settings tlsterm makes explicit
// (src/tls/security_defaults.h), on each version.
TEST_F(ClientAuthTest, LibraryDefaultsAsAPeerSeesThem) {
    start("client_auth = \"optional\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    const uint16_t port = server->port();
    auto r = s_client(port, "", {"-tls1_2", "-maxfraglen", "512"});
    // Tickets are tlsterm's own (206 bytes, the configured lifetime).
    for (const char* seen : {"Secure Renegotiation IS supported", "Extended master secret: yes",
                             "Compression: NONE", "TLS session ticket lifetime hint: 300"}) {
        EXPECT_TRUE(contains(r.out, seen)) << seen << "\n" << r.out;
    }
    for (const char* unseen : {"Max Fragment Length", "alert"}) {
        EXPECT_FALSE(contains(r.out, unseen)) << unseen << "\n" << r.out;
    }
    // No ticket asked for: no session cache to resume from, so no session ID.
    r = s_client(port, "", {"-tls1_2", "-no_ticket"});
    EXPECT_TRUE(contains(r.out, "Session-ID: \n")) << r.out;
    EXPECT_FALSE(contains(r.out, "TLS session ticket:")) << r.out;
    r = s_client(port, "client-valid", {"-tls1_3"});
    EXPECT_TRUE(contains(r.out, "Verify return code: 0 (ok)")) << r.out;
    // Two tickets after a full handshake, neither allowing early data.
    EXPECT_TRUE(contains(r.out, "Post-Handshake New Session Ticket arrived")) << r.out;
    EXPECT_TRUE(contains(r.out, "Max Early Data: 0")) << r.out;
    EXPECT_FALSE(contains(r.out, "Max Early Data: 1")) << r.out;
    EXPECT_TRUE(contains(r.out, "Early data was not sent")) << r.out;
    // A client asking to renegotiate (s_client's "R" command) is refused
    // with a warning no_renegotiation (RFC 5746 4.4), on which OpenSSL's
    // client ends the connection (a client that goes on is served:
    // TlsConformanceTest.RenegotiationGetsAWarningAndTheConnectionGoesOn).
    r = run_process(
        {"sh", "-c",
         "(sleep 1; echo R; sleep 1) | openssl s_client -connect 127.0.0.1:" +
             std::to_string(port) + " -tls1_2 -CAfile " + abs("root-ca.pem") + " -cert " +
             abs("client-valid.pem") + " -key " + abs("client-valid.key") + " 2>&1"},
        30);
    EXPECT_TRUE(contains(r.out, "RENEGOTIATING")) << r.out;
    EXPECT_TRUE(contains(r.out, "no renegotiation")) << r.out;
    EXPECT_TRUE(wait_for_line(*server, "TLS error from client", "received alert fatal error"))
        << server->log();
    EXPECT_EQ(status_of(port, "client-valid"), "200");
}

// keyUsage, extendedKeyUsage and basicConstraints of the leaf: checked by
// tlsterm on every version (wolfSSL checks them on TLS 1.2 only).
TEST_F(ClientAuthTest, LeafUsagesMustAllowClientAuthentication) {
    start("client_auth = \"require\"\nca_files = [\"pki/ca-bundle.pem\"]\n" + all_crls);
    const uint16_t port = server->port();
    struct refused {
        std::string client;
        std::string detail;
    };
    std::size_t count = 0;
    for (const char* v : {"1.2", "1.3"}) {
        for (const auto& r : {
                 refused{"client-no-digital-signature", "CN=client-no-digital-signature)"},
                 refused{"client-server-eku", "CN=client-server-eku)"},
                 // A CA certificate with its own key, presented as a client.
                 refused{"intermediate-ca", "CN=tlsterm Test Intermediate CA)"},
             }) {
            std::vector<std::string> version = {"--tls-max", v};
            if (std::string(v) == "1.3") {
                version = {"--tlsv1.3"};
            }
            EXPECT_EQ(status_of(port, r.client, "localhost", version), "000") << r.client << v;
            ++count;
            EXPECT_TRUE(wait_for_count(*server, "client certificate rejected (wrong_usage)", count))
                << r.client << " " << v << "\n"
                << server->log();
            EXPECT_TRUE(wait_for_line(*server, "rejected (wrong_usage)", r.detail))
                << server->log();
        }
    }
    // On TLS 1.3 these two reach tlsterm's own check (wolfSSL refuses the
    // extendedKeyUsage itself on both versions).
    EXPECT_TRUE(contains(server->log(), "has a keyUsage without digitalSignature"))
        << server->log();
    EXPECT_TRUE(contains(server->log(), "is a CA certificate")) << server->log();
    EXPECT_EQ(status_of(port, "client-valid", "localhost", {"--tlsv1.3"}), "200");
}

TEST_F(ClientAuthTest, X509v1ClientCertificates) {
    const std::string base =
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\"]\n"
        "crl_files = [\"pki/root-ca.crl.pem\"]\n";
    start(base);
    const uint16_t port = server->port();
    // Accepted on both versions, logged once, counted each time.
    EXPECT_EQ(status_of(port, "client-v1", "localhost", {"--tls-max", "1.2"}), "200")
        << server->log();
    EXPECT_EQ(status_of(port, "client-v1", "localhost", {"--tlsv1.3"}), "200") << server->log();
    EXPECT_EQ(status_of(port, "client-v1"), "200");
    ASSERT_TRUE(
        wait_for_line(*server, "accepted X.509 v1 client certificate", "CN=client-v1 serial"))
        << server->log();
    server->process().signal(SIGUSR1);
    ASSERT_TRUE(wait_for_count(*server, "verified (3 of them X.509 v1)", 1)) << server->log();
    EXPECT_TRUE(wait_for_count(*server, "accepted X.509 v1 client certificate", 1));
    EXPECT_FALSE(wait_for_count(*server, "accepted X.509 v1 client certificate", 2));
    // A v1 certificate is no CA when a client sends it as an intermediate.
    EXPECT_EQ(status_of(port, "client-under-v1-intermediate"), "000");
    EXPECT_TRUE(wait_for_line(*server, "client certificate rejected (unknown_ca)",
                              "CN=client-under-v1-intermediate"))
        << server->log();
    // A "v1" certificate with extensions (and so an unverifiable signature)
    // is not one: refused, whatever wolfSSL's error code suggests.
    for (const char* v : {"1.2", "1.3"}) {
        EXPECT_EQ(status_of(port, "client-v1-with-extensions", "localhost", {"--tls-max", v}),
                  "000")
            << v;
    }
    // wolfSSL refuses it while parsing, before verifying anything; its
    // verify callback (tools/wolfssl-patches/0004) still names it.
    EXPECT_TRUE(wait_for_line(*server, "client certificate rejected (invalid): certificate serial",
                              "): X.509 v1 with extensions (ASN version error)"))
        << server->log();
    server.reset();

    start(base + "require_x509v3 = true\n");
    EXPECT_EQ(status_of(server->port(), "client-v1", "localhost", {"--tls-max", "1.2"}), "000");
    EXPECT_EQ(status_of(server->port(), "client-v1", "localhost", {"--tlsv1.3"}), "000");
    EXPECT_TRUE(wait_for_line(*server, "client certificate rejected (not_x509v3)",
                              "CN=client-v1) is X.509 v1 and require_x509v3 = true"))
        << server->log();
    EXPECT_EQ(status_of(server->port(), "client-valid"), "200");
    server.reset();

    // Configured in ca_files, the v1 CA is an anchor like any other.
    start(
        "client_auth = \"require\"\nca_files = [\"pki/root-ca.pem\", "
        "{ file = \"pki/v1-intermediate-ca.pem\", crl_policy = \"optional\" }]\n"
        "crl_files = [\"pki/root-ca.crl.pem\"]\n");
    EXPECT_EQ(status_of(server->port(), "client-under-v1-intermediate"), "200") << server->log();
}

TEST_F(ClientAuthTest, CheckRejectsACaWithoutTheCrlItsPolicyNeeds) {
    auto dir = test::make_temp_dir("crl-required");
    fs::create_directory_symlink(test::pki_dir(), dir / "pki");
    test::write_file(dir / "t.toml", config(upstream->port(),
                                            "client_auth = \"require\"\n"
                                            "ca_files = [\"pki/ca-bundle.pem\"]\n"
                                            "crl_files = [\"pki/root-ca.crl.pem\"]\n"));
    auto r = run_process({TLSTERM_BINARY, "--check", (dir / "t.toml").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(contains(r.err, "listeners[0].tls.ca_files[0] (")) << r.err;
    EXPECT_TRUE(contains(r.err,
                         "CA /O=tlsterm test/CN=tlsterm Test Intermediate CA has "
                         "crl_policy \"required\" but no CRL in crl_files"))
        << r.err;
}

}  // namespace
}  // namespace tlsterm

namespace tlsterm {
namespace {

TEST(ProxyProtocolTest, TellsTheUpstreamWhoTheClientIs) {
    test::upstream_server upstream("proxy-v2");
    std::string toml = config(upstream.port(),
                              "client_auth = \"optional\"\nca_files = [\"pki/ca-bundle.pem\"]\n"
                              "alpn = [\"http/1.1\"]\n" +
                                  all_crls);
    toml.replace(toml.find("name = \"up\"\n"), 12, "name = \"up\"\nproxy_protocol = \"v2\"\n");
    test::tlsterm_server server(toml);
    auto get = [&](const std::string& client) {
        std::vector<std::string> argv = {
            "curl",       "-sS",
            "--cacert",   abs("root-ca.pem"),
            "--resolve",  "localhost:" + std::to_string(server.port()) + ":127.0.0.1",
            "--max-time", "20"};
        if (!client.empty()) {
            argv.insert(argv.end(), {"--cert", test::client_certificate(client), "--key",
                                     abs(client + ".key")});
        }
        argv.push_back("https://localhost:" + std::to_string(server.port()) + "/");
        return run_process(argv, 30);
    };
    auto r = get("client-valid");
    ASSERT_EQ(r.exit_code, 0) << r.err << server.log();
    const std::string port = std::to_string(server.port());
    for (const std::string& field :
         {std::string("\"family\": 17"), "\"destination\": \"127.0.0.1:" + port + "\"",
          std::string("\"source\": \"127.0.0.1:"), std::string("\"authority\": \"localhost\""),
          std::string("\"alpn\": \"http/1.1\""), std::string("\"ssl_client\": 7"),
          std::string("\"ssl_verify\": 0"), std::string("\"ssl_cn\": \"client-valid\""),
          std::string("\"ssl_version\": \"TLSv1.3\""),
          std::string("\"ssl_cipher\": \"TLS_AES_128_GCM_SHA256\"")}) {
        EXPECT_TRUE(contains(r.out, field)) << field << "\n" << r.out;
    }
    // No certificate: TLS, but none presented and nothing verified.
    r = get("");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\"ssl_client\": 1,")) << r.out;
    EXPECT_TRUE(contains(r.out, "\"ssl_verify\": 1")) << r.out;
    EXPECT_FALSE(contains(r.out, "ssl_cn")) << r.out;
}

}  // namespace
}  // namespace tlsterm
