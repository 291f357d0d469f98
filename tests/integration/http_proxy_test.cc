// HTTP mode against real origins: nginx (plain, mTLS with ssl_verify_client
// on, an expired certificate, short keep-alive) started per test, Python
// origins for what nginx cannot do (a silent origin, WebSocket echo), and
// curl / Python ssl clients.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "support/http_config.h"
#include "support/origin.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

using test::contains;
using test::curl;
using test::listener;
using test::quoted;
using test::run_process;
using test::runtime;
using test::upstream;

std::string ca() {
    return test::pki("root-ca.pem").string();
}

std::string mtls_upstream_tls(const std::string& extra = "") {
    return "mode = \"mtls\"\nca_file = \"pki/root-ca.pem\"\nserver_name = \"tlsterm.test\"\n"
           "cert = \"pki/client-valid.pem\"\nkey = \"pki/client-valid.key\"\n" +
           extra;
}

// The "name=value" lines of /headers.
std::map<std::string, std::string> facts(const std::string& body) {
    std::map<std::string, std::string> out;
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) {
            out[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return out;
}

test::process_result raw(uint16_t port, const std::string& request) {
    return run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                        "raw", std::to_string(port), ca(), request},
                       60);
}

std::string sha256_of(const std::filesystem::path& p) {
    auto r = run_process({"sha256sum", p.string()}, 120);
    return r.out.substr(0, 64);
}

std::size_t distinct_connections(const std::vector<test::access_entry>& log,
                                 const std::string& server) {
    std::set<uint64_t> ids;
    for (const auto& e : log) {
        if (e.server == server) {
            ids.insert(e.connection);
        }
    }
    return ids.size();
}

class HttpProxyTest : public ::testing::Test {
  protected:
    test::nginx_origin origin;
};

TEST_F(HttpProxyTest, ForwardsWithRewrittenHeadersOverOnePooledConnection) {
    // queue_size = 0 bounds only requests waiting for a busy pool; one that
    // opens a connection is not refused.
    test::tlsterm_server server(runtime() +
                                upstream("plain", origin.plain_port(), "", "queue_size = 0\n") +
                                listener("plain"));
    auto r = curl(server.port(), {"/headers?a=1", "/headers?a=2", "/headers?a=3"},
                  {"-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Forwarded-Proto: http", "-H",
                   "Client-Cert: :c3Bvb2Y=:", "-H", "X-Client-Verify: SUCCESS", "-H",
                   "Connection: keep-alive, X-Secret", "-H", "X-Secret: hop", "-H", "TE: trailers",
                   "-H", "Keep-Alive: timeout=5"});
    ASSERT_EQ(r.exit_code, 0) << r.err << server.log();
    auto f = facts(r.out);
    EXPECT_EQ(f["server"], "plain");
    EXPECT_EQ(f["uri"], "/headers?a=3");
    EXPECT_EQ(f["host"], "localhost:" + std::to_string(server.port()));
    EXPECT_EQ(f["xff"], "127.0.0.1");  // the client's own value replaced
    EXPECT_EQ(f["xfp"], "https");
    EXPECT_EQ(f["xfh"], "localhost:" + std::to_string(server.port()));
    EXPECT_EQ(f["client_cert"], "");  // identity headers from a client never pass
    EXPECT_EQ(f["x_client_verify"], "");
    EXPECT_EQ(f["secret"], "");  // named in Connection: hop-by-hop
    EXPECT_EQ(f["te"], "");
    EXPECT_EQ(f["keepalive"], "");
    // Three requests from one client connection, one origin connection.
    auto log = origin.access_log(3);
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(distinct_connections(log, "plain"), 1u);
    EXPECT_EQ(log[2].requests_on_connection, 3u);
}

TEST_F(HttpProxyTest, ManyClientConnectionsShareAFewOriginConnections) {
    test::tlsterm_server server(
        runtime(2) + upstream("plain", origin.plain_port(), "", "max_connections = 2\n") +
        listener("plain"));
    constexpr int clients = 40;
    constexpr int per_client = 3;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < clients / 4; ++i) {
                auto r = curl(server.port(), {"/headers", "/files/small.txt", "/headers"},
                              {"-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w",
                               "%{http_code}\\n"});
                if (r.exit_code == 0 && r.out == "200\n200\n200\n") {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(ok.load(), clients) << server.log();
    auto log = origin.access_log(static_cast<std::size_t>(clients * per_client));
    EXPECT_EQ(log.size(), static_cast<std::size_t>(clients * per_client));
    // 2 shards x max_connections 2: at most 4 origin connections for 120
    // requests from 40 client connections.
    EXPECT_LE(distinct_connections(log, "plain"), 4u);
}

TEST_F(HttpProxyTest, MutualTlsOriginAcceptsTheClientCertificate) {
    auto dir = test::make_temp_dir("enckey");
    auto enc =
        run_process({"openssl", "pkey", "-in", test::pki("client-valid.key").string(), "-aes256",
                     "-passout", "pass:s3cret", "-out", (dir / "client.key").string()});
    ASSERT_EQ(enc.exit_code, 0) << enc.err;
    test::write_file(dir / "password", "s3cret\n");
    test::tlsterm_server server(
        runtime() + upstream("mtls", origin.mtls_port(), mtls_upstream_tls()) +
        upstream("mtls-enc", origin.mtls_port(),
                 "mode = \"mtls\"\nca_file = \"pki/root-ca.pem\"\nserver_name = "
                 "\"tlsterm.test\"\ncert = \"pki/client-valid.pem\"\nkey = \"" +
                     (dir / "client.key").string() + "\"\nkey_password_file = \"" +
                     (dir / "password").string() + "\"\n") +
        listener("mtls", "", "",
                 "[[listeners.routes]]\npath_prefix = \"/enc/\"\nupstream = \"mtls-enc\"\n"));
    auto r = curl(server.port(), {"/headers", "/headers"});
    ASSERT_EQ(r.exit_code, 0) << r.err << server.log();
    auto f = facts(r.out);
    EXPECT_EQ(f["server"], "mtls");
    EXPECT_TRUE(contains(f["ssl_client"], "CN=client-valid")) << r.out;
    // The encrypted key: nginx's 404 for /enc/ proves the handshake passed.
    auto e = curl(server.port(), {"/enc/x"}, {"-o", "/dev/null", "-w", "%{http_code}"});
    EXPECT_EQ(e.out, "404") << server.log();
    auto log = origin.access_log(3);
    ASSERT_EQ(log.size(), 3u);
    for (const auto& entry : log) {
        EXPECT_TRUE(contains(entry.client_dn, "CN=client-valid")) << entry.client_dn;
    }
}

TEST_F(HttpProxyTest, TlsSessionsToTheOriginAreResumed) {
    // One request per origin connection: every connection after the first
    // offers the session the pool kept.
    test::tlsterm_server server(
        runtime() +
        upstream("mtls", origin.mtls_port(), mtls_upstream_tls(), "max_requests = 1\n") +
        upstream("fresh", origin.mtls_port(), mtls_upstream_tls("session_resumption = false\n"),
                 "max_requests = 1\n") +
        listener("mtls", "", "",
                 "[[listeners.routes]]\npath_prefix = \"/fresh/\"\nupstream = \"fresh\"\n"));
    for (const char* path : {"/headers", "/headers", "/headers", "/fresh/x", "/fresh/x"}) {
        auto r = curl(server.port(), {path}, {"-o", "/dev/null", "-w", "%{http_code}"});
        EXPECT_TRUE(r.out == "200" || r.out == "404") << path << r.out << server.log();
    }
    auto log = origin.access_log(5);
    ASSERT_EQ(log.size(), 5u);
    EXPECT_EQ(distinct_connections(log, "mtls"), 5u);
    EXPECT_FALSE(log[0].tls_resumed);
    EXPECT_TRUE(log[1].tls_resumed);
    EXPECT_TRUE(log[2].tls_resumed);
    EXPECT_FALSE(log[3].tls_resumed);  // session_resumption = false
    EXPECT_FALSE(log[4].tls_resumed);
}

TEST_F(HttpProxyTest, OriginTlsFailuresAre502WithTheCause) {
    uint16_t closed = test::unused_port();
    test::tlsterm_server server(
        runtime() +
        upstream("wrong-ca", origin.mtls_port(),
                 "mode = \"mtls\"\nca_file = \"pki/unknown-ca.pem\"\nserver_name = "
                 "\"tlsterm.test\"\ncert = \"pki/client-valid.pem\"\nkey = "
                 "\"pki/client-valid.key\"\n") +
        upstream("wrong-name", origin.mtls_port(),
                 mtls_upstream_tls().replace(mtls_upstream_tls().find("tlsterm.test"), 12,
                                             "wrong.test")) +
        upstream(
            "expired", origin.expired_port(),
            "mode = \"tls\"\nca_file = \"pki/root-ca.pem\"\nserver_name = \"tlsterm.test\"\n") +
        upstream("refused", closed) +
        upstream("system", origin.mtls_port(),
                 "mode = \"tls\"\nca_file = \"system\"\nserver_name = \"tlsterm.test\"\n") +
        upstream(
            "pinned", origin.mtls_port(),
            mtls_upstream_tls("pinned_spki = "
                              "[\"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n")) +
        listener("refused", "", "",
                 "[[listeners.routes]]\npath_prefix = \"/ca/\"\nupstream = \"wrong-ca\"\n"
                 "[[listeners.routes]]\npath_prefix = \"/name/\"\nupstream = \"wrong-name\"\n"
                 "[[listeners.routes]]\npath_prefix = \"/expired/\"\nupstream = \"expired\"\n"
                 "[[listeners.routes]]\npath_prefix = \"/pin/\"\nupstream = \"pinned\"\n"
                 "[[listeners.routes]]\npath_prefix = \"/system/\"\nupstream = \"system\"\n"));
    struct expectation {
        std::string path;
        std::string cause;
    };
    for (const auto& [path, cause] :
         {expectation{"/ca/", "origin certificate not issued by a CA of ca_file"},
          expectation{"/name/", "origin certificate does not name the expected host"},
          expectation{"/expired/", "origin certificate expired"},
          expectation{"/pin/", "matches no pinned_spki"},
          // The system store is loaded and used: the test CA is not in it.
          expectation{"/system/",
                      "upstream system (127.0.0.1:" + std::to_string(origin.mtls_port()) +
                          "): TLS handshake: origin certificate not issued by a CA"},
          expectation{"/refused", "connect failed: Connection refused"}}) {
        auto r = curl(server.port(), {path}, {"-w", "%{http_code}"});
        EXPECT_EQ(r.out, "502 Bad Gateway\n502") << path << server.log();
        // Shards log through a buffer: the line may follow the response.
        EXPECT_TRUE(server.process().wait_for_output(cause)) << cause << "\n" << server.log();
    }
    EXPECT_TRUE(origin.access_log().empty());
}

TEST_F(HttpProxyTest, OriginChainIsCheckedAgainstItsCrl) {
    auto dir = test::make_temp_dir("origincrl");
    test::write_file(dir / "crls.pem", test::read_text(test::pki("root-ca.crl.pem")) +
                                           test::read_text(test::pki("intermediate-ca.crl.pem")));
    // Each CRL's issuer must be in ca_file: the bundle holds the root and
    // the intermediate that issued the origin certificates.
    std::string crl = "crl_file = \"" + (dir / "crls.pem").string() + "\"\n";
    std::string tls = "ca_file = \"pki/ca-bundle.pem\"\nserver_name = \"tlsterm.test\"\n" + crl;
    test::tlsterm_server server(
        runtime() +
        upstream("mtls", origin.mtls_port(),
                 "mode = \"mtls\"\ncert = \"pki/client-valid.pem\"\nkey = "
                 "\"pki/client-valid.key\"\n" +
                     tls) +
        upstream("revoked", origin.revoked_port(), "mode = \"tls\"\n" + tls) +
        listener("mtls", "", "",
                 "[[listeners.routes]]\npath_prefix = \"/revoked/\"\nupstream = \"revoked\"\n"));
    EXPECT_EQ(facts(curl(server.port(), {"/headers"}).out)["server"], "mtls") << server.log();
    auto r = curl(server.port(), {"/revoked/headers"}, {"-w", "%{http_code}"});
    EXPECT_EQ(r.out, "502 Bad Gateway\n502") << server.log();
    EXPECT_TRUE(server.process().wait_for_output("origin certificate revoked")) << server.log();
    // Without the root's CRL the intermediate cannot be checked: refused.
    test::write_file(dir / "leaf-only.pem", test::read_text(test::pki("intermediate-ca.crl.pem")));
    test::tlsterm_server partial(
        runtime() +
        upstream("mtls", origin.mtls_port(),
                 "mode = \"mtls\"\ncert = \"pki/client-valid.pem\"\nkey = "
                 "\"pki/client-valid.key\"\nca_file = \"pki/ca-bundle.pem\"\nserver_name = "
                 "\"tlsterm.test\"\ncrl_file = \"" +
                     (dir / "leaf-only.pem").string() + "\"\n") +
        listener("mtls"));
    auto missing = curl(partial.port(), {"/headers"}, {"-w", "%{http_code}"});
    EXPECT_EQ(missing.out, "502 Bad Gateway\n502") << partial.log();
    EXPECT_TRUE(contains(partial.log(), "no CRL in crl_file for an issuer")) << partial.log();
}

TEST_F(HttpProxyTest, PinnedOriginKeyIsAccepted) {
    auto pin = run_process({"sh", "-c",
                            "openssl x509 -in " + test::pki("server-ecdsa.pem").string() +
                                " -pubkey -noout | openssl pkey -pubin -outform DER | openssl "
                                "dgst -sha256 -binary | base64"});
    ASSERT_EQ(pin.exit_code, 0);
    std::string b64 = pin.out.substr(0, pin.out.find('\n'));
    // One request per origin connection: the later ones resume the session
    // of the first, whose full handshake passed the pin (a resumed
    // handshake carries no certificate to check).
    test::tlsterm_server server(
        runtime() +
        upstream("mtls", origin.mtls_port(),
                 mtls_upstream_tls("pinned_spki = [\"sha256//" + b64 + "\"]\n"),
                 "max_requests = 1\n") +
        listener("mtls"));
    for (int i = 0; i < 3; ++i) {
        auto r = curl(server.port(), {"/headers"});
        EXPECT_EQ(facts(r.out)["server"], "mtls") << i << r.out << server.log();
    }
    auto log = origin.access_log(3);
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(distinct_connections(log, "mtls"), 3u);
    EXPECT_FALSE(log[0].tls_resumed);
    EXPECT_TRUE(log[1].tls_resumed);
    EXPECT_TRUE(log[2].tls_resumed);
}

TEST_F(HttpProxyTest, IdempotentRequestIsRetriedOnceWhenAReusedConnectionDies) {
    // The origin answers one request per connection and drops the
    // connection when a second one arrives on it.
    test::upstream_server once("answer-once");
    test::tlsterm_server server(
        runtime() + upstream("once", once.port(), "", "max_connections = 1\n") + listener("once"));
    auto r = curl(server.port(), {"/a", "/b", "/c"});
    EXPECT_EQ(r.out, "answer 1\nanswer 2\nanswer 3\n") << server.log();
    // A request with a body is not replayed (its bytes are gone): /d goes
    // out on the connection that answered /c and fails; /e gets a new one.
    auto post = curl(server.port(), {"/d", "/e"},
                     {"-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ", "-d", "x=1"});
    EXPECT_EQ(post.out, "502 200 ") << server.log();
    // The origin closes with the request unread (RST) or read (FIN),
    // depending on whether it arrived in one segment.
    EXPECT_TRUE(contains(server.log(), "origin closed the connection before a response") ||
                contains(server.log(), "Connection reset by peer before a response"))
        << server.log();
}

TEST_F(HttpProxyTest, SilentOriginIs504AndFullQueueIs503) {
    test::upstream_server silent("silent");
    test::tlsterm_server server(
        runtime() +
        upstream("silent", silent.port(), "",
                 "max_connections = 1\nresponse_timeout_ms = 1500\nqueue_timeout_ms = 300\n") +
        listener("silent"));
    std::thread slow([&] {
        auto r = curl(server.port(), {"/a"}, {"-w", "%{http_code}"});
        EXPECT_EQ(r.out, "504 Gateway Timeout\n504") << server.log();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto queued = curl(server.port(), {"/b"}, {"-w", "%{http_code}"});
    EXPECT_EQ(queued.out, "503 Service Unavailable\n503") << server.log();
    slow.join();
    EXPECT_TRUE(contains(server.log(), "no response within 1500 ms")) << server.log();
    EXPECT_TRUE(contains(server.log(), "no connection within 300 ms")) << server.log();
}

TEST_F(HttpProxyTest, OriginClosingIdleConnectionsCostsNoClientAnError) {
    // The origin closes idle connections after 1 s; tlsterm keeps them
    // for 60 s. Requests land just before, at and after that moment.
    test::tlsterm_server server(runtime() + upstream("brief", origin.brief_port()) +
                                listener("brief"));
    for (int delay_ms : {0, 1000, 990, 1010, 1100, 1000}) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        auto r = curl(server.port(), {"/headers"}, {"-w", "%{http_code}"});
        EXPECT_TRUE(r.out.ends_with("200")) << delay_ms << ": " << r.out << server.log();
    }
    EXPECT_FALSE(contains(server.log(), " 502 ")) << server.log();
    EXPECT_GE(distinct_connections(origin.access_log(6), "brief"), 2u);
}

TEST_F(HttpProxyTest, HundredMebibytesUpAndDownChecksummed) {
    auto big = origin.files_dir() / "big.bin";
    auto gen = run_process({"sh", "-c", "head -c 104857600 /dev/urandom > " + big.string()}, 120);
    ASSERT_EQ(gen.exit_code, 0);
    test::tlsterm_server server(
        runtime() + upstream("mtls", origin.mtls_port(), mtls_upstream_tls()) + listener("mtls"));
    auto dir = test::make_temp_dir("big");
    auto down = curl(server.port(), {"/files/big.bin"}, {"-o", (dir / "down.bin").string()});
    ASSERT_EQ(down.exit_code, 0) << down.err << server.log();
    std::string expected = sha256_of(big);
    EXPECT_EQ(sha256_of(dir / "down.bin"), expected);
    // Upload with Content-Length, then chunked (from a pipe).
    auto up = curl(server.port(), {"/upload/up.bin"},
                   {"-T", big.string(), "-w", "%{http_code}", "-o", "/dev/null"});
    EXPECT_EQ(up.out, "201") << up.err << server.log();
    EXPECT_EQ(sha256_of(origin.upload_dir() / "up.bin"), expected);
    auto chunked = run_process({"sh", "-c",
                                "cat " + big.string() + " | curl -sS --cacert " + ca() +
                                    " --resolve localhost:" + std::to_string(server.port()) +
                                    ":127.0.0.1 -T - -o /dev/null -w '%{http_code}' https://"
                                    "localhost:" +
                                    std::to_string(server.port()) + "/upload/chunked.bin"},
                               180);
    EXPECT_EQ(chunked.out, "201") << chunked.err << server.log();
    EXPECT_EQ(sha256_of(origin.upload_dir() / "chunked.bin"), expected);
    // tlsterm never held a whole body. (AddressSanitizer keeps freed memory
    // in quarantine, so the bound holds for the optimized build only.)
#if !defined(__SANITIZE_ADDRESS__)
    EXPECT_LT(server.rss_kib(), 64 * 1024);
#endif
}

TEST_F(HttpProxyTest, PipelinedRequestsAreAnsweredInOrder) {
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    std::string three =
        "GET /headers?n=1 HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n"
        "PUT /upload/p.txt HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
        "GET /headers?n=3 HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";
    auto r = raw(server.port(), three);
    auto first = r.out.find("uri=/headers?n=1");
    auto second = r.out.find("HTTP/1.1 201");
    auto third = r.out.find("uri=/headers?n=3");
    ASSERT_NE(first, std::string::npos) << r.out << server.log();
    ASSERT_NE(second, std::string::npos) << r.out;
    ASSERT_NE(third, std::string::npos) << r.out;
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
    EXPECT_EQ(test::read_text(origin.upload_dir() / "p.txt"), "hello");
}

TEST_F(HttpProxyTest, ManyPipelinedRequestsInTinyRecords) {
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                          "pipeline", std::to_string(server.port()), ca(), "2000"},
                         120);
    EXPECT_EQ(r.out, "in order 2000\n") << r.err << server.log().substr(0, 4000);
}

TEST_F(HttpProxyTest, MalformedAndSmugglingShapedRequestsAreRefused) {
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    struct bad {
        std::string request;
        std::string status;
    };
    for (const auto& [request, status] : std::vector<bad>{
             {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: "
              "chunked\\r\\n\\r\\n0\\r\\n\\r\\n",
              "400"},
             {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: 3\\r\\nContent-Length: "
              "4\\r\\n\\r\\nabcd",
              "400"},
             {"GET /headers HTTP/1.1\\nHost: a\\n\\n", "400"},
             {"GET /headers HTTP/1.1\\r\\nHost: a\\r\\nX-Folded: one\\r\\n two\\r\\n\\r\\n", "400"},
             {"GET /headers HTTP/1.1\\r\\nHost : a\\r\\n\\r\\n", "400"},
             {"GET /headers HTTP/1.1\\r\\n\\r\\n", "400"},
             {"GET /headers HTTP/1.1\\r\\nHost: a\\r\\nHost: b\\r\\n\\r\\n", "400"},
             {"GET /headers HTTP/1.1\\r\\nHost: a\\r\\nExpect: magic\\r\\n\\r\\n", "417"},
             {"CONNECT a:443 HTTP/1.1\\r\\nHost: a:443\\r\\n\\r\\n", "405"},
             // Faulty framing in a body short enough to be read first: refused
             // before an origin sees the request (RFC 9112 sections 6.1, 7.1).
             {"POST /headers HTTP/1.0\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
              "3\\r\\nabc\\r\\n0\\r\\n\\r\\n",
              "400"},
             {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: "
              "chunked\\r\\n\\r\\n3\\r\\nabcdef",
              "400"},
             {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: "
              "chunked\\r\\n\\r\\nffffffffffffffff\\r\\n",
              "400"},
         }) {
        auto r = raw(server.port(), request);
        EXPECT_TRUE(r.out.starts_with("HTTP/1.1 " + status)) << request << "\n"
                                                             << r.out << server.log();
        EXPECT_TRUE(contains(r.out, "Connection: close")) << r.out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nginx logs after answering
    EXPECT_TRUE(origin.access_log().empty()) << "a refused request reached the origin";
    // A bad chunk size shows only after the head was forwarded: the client
    // gets a 400 and the origin an aborted request, never a complete one.
    auto r = raw(server.port(),
                 "PUT /upload/bad.txt HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: "
                 "chunked\\r\\n\\r\\n5\\r\\nhello\\r\\nzz\\r\\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400")) << r.out << server.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const auto& e : origin.access_log()) {
        EXPECT_NE(e.status, 201) << e.uri;
    }
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "bad.txt"));
}

// Every check on a request head runs before one byte of it goes to an
// origin, also when an idle pooled connection is ready at once (min_idle).
TEST_F(HttpProxyTest, RefusedHeadsNeverReachTheOrigin) {
    test::tlsterm_server server(runtime() +
                                upstream("plain", origin.plain_port(), "", "min_idle = 2\n") +
                                listener("plain"));
    struct bad {
        std::string request;
        std::string status;
    };
    const std::vector<bad> cases = {
        {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: xchunked\\r\\n\\r\\n", "400"},
        {"POST /headers HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: chunked, gzip\\r\\n\\r\\n",
         "400"},
        {"GET /headers HTTP/1.1\\r\\nHost: a\\r\\n: x\\r\\n\\r\\n", "400"},
        {"GET /headers HTTP/1.1\\r\\nHost: a@localhost\\r\\n\\r\\n", "400"},
        {"GET /headers HTTP/1.1\\r\\nHost: localhost/x\\r\\n\\r\\n", "400"},
        {"GET http://user@localhost/headers HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n", "400"},
        {"GET /headers HTTP/2.0\\r\\nHost: a\\r\\n\\r\\n", "505"},
        {"GET /headers HTTP/1.2\\r\\nHost: a\\r\\n\\r\\n", "505"},
    };
    for (int round = 0; round < 5; ++round) {
        for (const auto& [request, status] : cases) {
            auto r = raw(server.port(), request);
            EXPECT_TRUE(r.out.starts_with("HTTP/1.1 " + status)) << request << "\n"
                                                                 << r.out << server.log();
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nginx logs after answering
    for (const auto& e : origin.access_log()) {
        ADD_FAILURE() << "a refused request reached the origin: " << e.method << " " << e.uri;
    }
    // A chunk longer than its size line says: 400, and nothing stored.
    auto r = raw(server.port(),
                 "PUT /upload/long.txt HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: "
                 "chunked\\r\\n\\r\\n5\\r\\nhello, and more\\r\\n0\\r\\n\\r\\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400")) << r.out << server.log();
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "long.txt"));
}

// Header names with underscores are dropped (nginx's default), and never
// passed when they spell a field tlsterm sets; Upgrade only for the
// configured protocols, so h2c cannot open a tunnel past these checks.
TEST_F(HttpProxyTest, UnderscoreSpellingsAndUnlistedUpgradesDoNotPass) {
    test::upstream_server echo("echo-head");
    for (bool keep_underscores : {false, true}) {
        test::tlsterm_server server(
            runtime() + upstream("echo", echo.port()) +
            listener("echo", "",
                     "client_identity = \"fields\"\nunderscores_in_headers = " +
                         std::string(keep_underscores ? "true" : "false") + "\n"));
        auto r = raw(server.port(),
                     "GET /a HTTP/1.1\\r\\nHost: localhost\\r\\nX_Client_Verify: SUCCESS\\r\\n"
                     "X_Forwarded_For: 203.0.113.9\\r\\nx_client_subject: CN=admin\\r\\n"
                     "X_Custom: kept\\r\\nX-Plain: yes\\r\\nConnection: close\\r\\n\\r\\n");
        ASSERT_TRUE(r.out.starts_with("HTTP/1.1 200")) << r.out << server.log();
        EXPECT_TRUE(contains(r.out, "X-Plain: yes")) << r.out;
        EXPECT_FALSE(contains(r.out, "X_Client_Verify")) << r.out;
        EXPECT_FALSE(contains(r.out, "x_client_subject")) << r.out;
        EXPECT_FALSE(contains(r.out, "203.0.113.9")) << r.out;
        EXPECT_TRUE(contains(r.out, "X-Client-Verify: NONE")) << r.out;
        EXPECT_EQ(contains(r.out, "X_Custom: kept"), keep_underscores) << r.out;
    }
    test::tlsterm_server server(runtime() + upstream("echo", echo.port()) +
                                listener("echo", "", "client_identity = \"fields\"\n"));
    // An h2c upgrade, then a request meant to ride inside the tunnel.
    auto r =
        raw(server.port(),
            "GET /a HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: Upgrade, HTTP2-Settings\\r\\n"
            "Upgrade: h2c\\r\\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\\r\\n\\r\\n"
            "GET /b HTTP/1.1\\r\\nHost: localhost\\r\\nX-Client-Verify: SUCCESS\\r\\n"
            "Connection: close\\r\\n\\r\\n");
    EXPECT_FALSE(contains(r.out, "101 Switching")) << r.out;
    EXPECT_TRUE(contains(r.out, "GET /a HTTP/1.1")) << r.out;
    EXPECT_TRUE(contains(r.out, "GET /b HTTP/1.1")) << r.out;
    EXPECT_FALSE(contains(r.out, "Upgrade: h2c")) << r.out;
    EXPECT_FALSE(contains(r.out, "X-Client-Verify: SUCCESS")) << r.out;
    // h2c cannot even be configured.
    auto dir = test::make_temp_dir("h2c");
    test::write_file(dir / "t.toml", runtime() + upstream("echo", echo.port()) +
                                         listener("echo", "", "upgrade_protocols = [\"h2c\"]\n"));
    auto check = run_process({TLSTERM_BINARY, "--check", (dir / "t.toml").string()});
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_TRUE(contains(check.err, "listeners[0].http.upgrade_protocols[0]")) << check.err;
    EXPECT_TRUE(contains(check.err, "h2c is not valid over TLS")) << check.err;
}

// A head trickling in a byte at a time is cut off header_timeout_ms after
// its first byte (the traffic does not extend it), while other clients are
// served meanwhile.
TEST_F(HttpProxyTest, SlowRequestHeadsGet408) {
    test::tlsterm_server server(
        "[runtime]\nshards = 1\nlog_level = \"debug\"\n"
        "[limits]\nheader_timeout_ms = 1500\nidle_timeout_ms = 30000\n" +
        upstream("plain", origin.plain_port()) + listener("plain"));
    std::vector<std::unique_ptr<test::child_process>> slow;
    auto dir = test::make_temp_dir("slow-heads");
    for (int i = 0; i < 20; ++i) {
        slow.push_back(std::make_unique<test::child_process>(
            std::vector<std::string>{"python3",
                                     TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                                     "slow-head", std::to_string(server.port()), ca(), "200", "10"},
            dir / ("slow-" + std::to_string(i) + ".log")));
    }
    // Served while the slow heads are open.
    for (int i = 0; i < 5; ++i) {
        auto r = curl(server.port(), {"/headers"}, {"-o", "/dev/null", "-w", "%{http_code}"});
        EXPECT_EQ(r.out, "200") << r.err;
    }
    for (auto& p : slow) {
        p->wait(std::chrono::seconds(20));
        std::string out = p->output();
        EXPECT_TRUE(contains(out, "HTTP/1.1 408 Request Timeout")) << out;
        // 1.5 s after the first byte, not 10 s of trickling later.
        auto at = out.find("answered after ");
        ASSERT_NE(at, std::string::npos) << out;
        double took = std::stod(out.substr(at + 15));
        EXPECT_GE(took, 1.0) << out;
        EXPECT_LT(took, 4.0) << out;
    }
    EXPECT_TRUE(contains(server.log(), "408 - -: request head not complete within 1500 ms"))
        << server.log();
    EXPECT_TRUE(contains(server.log(), "closed: header_timeout")) << server.log();
}

// Slow uploads of small bodies hold no pooled connection while they
// trickle in (buffer_request_bytes), so a pool of two keeps serving fast
// clients; a buffered body that does not arrive within body_timeout_ms is
// a 408.
TEST_F(HttpProxyTest, SlowUploadsDoNotHoldPooledConnections) {
    test::tlsterm_server server(
        "[runtime]\nshards = 1\nlog_level = \"debug\"\n[limits]\nbody_timeout_ms = 4000\n" +
        upstream("plain", origin.plain_port(), "",
                 "max_connections = 2\nqueue_size = 100\nqueue_timeout_ms = 1500\n") +
        listener("plain"));
    auto dir = test::make_temp_dir("slow-uploads");
    std::vector<std::unique_ptr<test::child_process>> slow;
    for (int i = 0; i < 8; ++i) {
        slow.push_back(std::make_unique<test::child_process>(
            std::vector<std::string>{
                "python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-body",
                std::to_string(server.port()), ca(), "/upload/slow-" + std::to_string(i) + ".bin",
                "1000", "100", "10"},
            dir / ("slow-" + std::to_string(i) + ".log")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the uploads have begun
    for (int i = 0; i < 10; ++i) {
        auto r = curl(server.port(), {"/headers"}, {"-o", "/dev/null", "-w", "%{http_code}"});
        EXPECT_EQ(r.out, "200") << r.err << server.log();
    }
    for (auto& p : slow) {
        p->wait(std::chrono::seconds(20));
        EXPECT_TRUE(contains(p->output(), "HTTP/1.1 408 Request Timeout")) << p->output();
    }
    EXPECT_TRUE(contains(server.log(), "of 1000 body bytes within 4000 ms of the head"))
        << server.log();
    EXPECT_TRUE(contains(server.log(), "closed: body_timeout")) << server.log();
    // Of a body too large to buffer, the first buffer_request_bytes are
    // read before a connection is taken, within body_timeout_ms too.
    auto large = run_process(
        {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-body",
         std::to_string(server.port()), ca(), "/upload/large.bin", "200000", "20", "15"},
        30);
    EXPECT_TRUE(contains(large.out, "HTTP/1.1 408 Request Timeout")) << large.out << server.log();
    auto at = large.out.find("answered after ");
    ASSERT_NE(at, std::string::npos) << large.out;
    EXPECT_LT(std::stod(large.out.substr(at + 15)), 10.0) << large.out;
    EXPECT_TRUE(contains(server.log(), "of 65536 body bytes within 4000 ms of the head"))
        << server.log();
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "large.bin"));
    // One that sends those at once and then slows streams the rest, and must
    // keep body_min_rate (1024 bytes/s by default) over each body_timeout_ms.
    auto slowing = run_process(
        {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-body",
         std::to_string(server.port()), ca(), "/upload/slowing.bin", "200000", "20", "15", "70000"},
        30);
    EXPECT_TRUE(contains(slowing.out, "HTTP/1.1 408 Request Timeout"))
        << slowing.out << server.log();
    at = slowing.out.find("answered after ");
    ASSERT_NE(at, std::string::npos) << slowing.out;
    EXPECT_LT(std::stod(slowing.out.substr(at + 15)), 10.0) << slowing.out;
    EXPECT_TRUE(contains(server.log(), "request body slower than 1024 bytes/s")) << server.log();
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "slowing.bin"));
    // A body that makes it in time is delivered whole.
    auto r = run_process(
        {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-body",
         std::to_string(server.port()), ca(), "/upload/ok.bin", "20", "50", "10"},
        30);
    EXPECT_TRUE(contains(r.out, "HTTP/1.1 201")) << r.out << server.log();
    EXPECT_EQ(std::filesystem::file_size(origin.upload_dir() / "ok.bin"), 20u);
}

// 600 clients POST 100,000-byte bodies at one byte a second while a normal
// request goes every second for 30 s, with the default limits: no slow
// body fills buffer_request_bytes, so none takes a pooled connection, and
// each gets 408 at body_timeout_ms; every normal request is answered. The
// normal requests' latency is printed (docs/SECURITY.md quotes a run).
TEST_F(HttpProxyTest, SixHundredSlowUploadsStarveNoOne) {
    test::tlsterm_server server("[runtime]\nshards = 1\nlog_level = \"info\"\n" +
                                upstream("plain", origin.plain_port()) + listener("plain"));
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/slow_uploads.py",
                          std::to_string(server.port()), ca(), "600", "100000", "30"},
                         150);
    EXPECT_TRUE(contains(r.out, "slow: 600 answered 408, 0 otherwise\n")) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "normal: 30 of 30 answered 200, p50 ")) << r.out << r.err;
    std::cout << "[ slow     ] " << r.out;
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "slow-0.bin"));
}

// pool.client_share_percent (50%): of a pool of 2, uploads from 127.0.0.2
// that keep up (past buffer_request_bytes, above body_min_rate) hold one
// connection; the other upload waits its turn, and requests from 127.0.0.1
// are answered at once meanwhile (with no share both uploads would hold the
// pool for about 4 s).
TEST_F(HttpProxyTest, OneAddressHoldsAtMostItsShareOfAPool) {
    test::tlsterm_server server(runtime() + "[limits]\nbody_min_rate = 100\n" +
                                upstream("plain", origin.plain_port(), "",
                                         "max_connections = 2\nqueue_timeout_ms = 15000\n") +
                                listener("plain", "", "buffer_request_bytes = 4096\n"));
    auto dir = test::make_temp_dir("share");
    std::vector<std::unique_ptr<test::child_process>> uploads;
    for (int i = 0; i < 2; ++i) {
        // 4096 bytes with the head, then 800 more, one every 5 ms.
        uploads.push_back(std::make_unique<test::child_process>(
            std::vector<std::string>{
                "python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "slow-body",
                std::to_string(server.port()), ca(), "/upload/share-" + std::to_string(i) + ".bin",
                "4896", "5", "20", "4096"},
            dir / ("upload-" + std::to_string(i) + ".log"),
            std::vector<std::string>{"TLSTERM_PEER_SOURCE=127.0.0.2"}));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // both past their buffer
    for (int i = 0; i < 5; ++i) {
        auto r = curl(server.port(), {"/headers"},
                      {"-o", "/dev/null", "-w", "%{http_code} %{time_total}"});
        EXPECT_TRUE(r.out.starts_with("200 ")) << r.out << r.err << server.log();
        EXPECT_LT(std::stod(r.out.substr(4)), 1.0) << r.out;
    }
    for (auto& u : uploads) {
        u->wait(std::chrono::seconds(30));
        EXPECT_TRUE(contains(u->output(), ": HTTP/1.1 201")) << u->output() << server.log();
    }
    EXPECT_EQ(std::filesystem::file_size(origin.upload_dir() / "share-0.bin"), 4896u);
    EXPECT_EQ(std::filesystem::file_size(origin.upload_dir() / "share-1.bin"), 4896u);
}

TEST_F(HttpProxyTest, ChunkedResponsesForHttp11AndHttp10Clients) {
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    // HTTP/1.1: re-chunked, and the connection stays open for the next one.
    auto r11 = raw(server.port(),
                   "GET /chunked/small.txt HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"
                   "GET /headers HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n");
    EXPECT_TRUE(r11.out.starts_with("HTTP/1.1 200")) << r11.out;
    EXPECT_TRUE(contains(r11.out, "Transfer-Encoding: chunked\r\n")) << r11.out;
    EXPECT_TRUE(contains(r11.out, "\r\n\r\nb\r\nSMALL file\n\r\n0\r\n\r\n")) << r11.out;
    EXPECT_TRUE(contains(r11.out, "uri=/headers")) << r11.out;
    // A body coded gzip and then chunked keeps its gzip coding: tlsterm
    // re-chunks it and says so ("gzip, chunked"); nginx, which cannot
    // decode it, refuses it rather than storing gzip bytes as the file.
    auto coded = raw(server.port(),
                     "PUT /upload/coded.bin HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: gzip, "
                     "chunked\\r\\n\\r\\n3\\r\\nabc\\r\\n0\\r\\n\\r\\n");
    EXPECT_FALSE(coded.out.starts_with("HTTP/1.1 201")) << coded.out;
    EXPECT_FALSE(std::filesystem::exists(origin.upload_dir() / "coded.bin"));
    // HTTP/1.0 cannot take chunks: the body ends with the connection.
    auto r10 = raw(server.port(), "GET /chunked/small.txt HTTP/1.0\\r\\nHost: a\\r\\n\\r\\n");
    EXPECT_TRUE(r10.out.starts_with("HTTP/1.0 200")) << r10.out;
    EXPECT_FALSE(contains(r10.out, "chunked")) << r10.out;
    EXPECT_TRUE(contains(r10.out, "Connection: close\r\n")) << r10.out;
    EXPECT_TRUE(r10.out.ends_with("\r\n\r\nSMALL file\n")) << r10.out;
    // HTTP/1.0 with keep-alive and a known length stays open.
    auto ka = raw(server.port(),
                  "GET /files/small.txt HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n"
                  "GET /headers HTTP/1.0\\r\\n\\r\\n");
    EXPECT_TRUE(contains(ka.out, "Connection: keep-alive\r\n")) << ka.out;
    EXPECT_TRUE(contains(ka.out, "uri=/headers")) << ka.out;
}

TEST_F(HttpProxyTest, IdentityHeadersInEachFormat) {
    std::string auth =
        "client_auth = \"optional\"\nca_files = [{ file = \"pki/root-ca.pem\", crl_policy = "
        "\"optional\" }]\n";
    std::vector<std::string> cert = {"--cert", test::pki("client-valid.pem").string(), "--key",
                                     test::pki("client-valid.key").string()};
    auto fingerprint = run_process({"sh", "-c",
                                    "openssl x509 -in " + test::pki("client-valid.pem").string() +
                                        " -outform DER | sha256sum | cut -c1-64"});
    std::string hash = fingerprint.out.substr(0, 64);
    {
        test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                    listener("plain", auth, "client_identity = \"fields\"\n"));
        auto none =
            facts(curl(server.port(), {"/headers"}, {"-H", "X-Client-Subject: forged"}).out);
        EXPECT_EQ(none["x_client_verify"], "NONE");
        EXPECT_EQ(none["x_client_subject"], "");  // the forged one was removed
        auto with = facts(curl(server.port(), {"/headers"}, cert).out);
        EXPECT_EQ(with["x_client_verify"], "SUCCESS") << server.log();
        EXPECT_EQ(with["x_client_subject"], "/O=tlsterm test/CN=client-valid");
        EXPECT_FALSE(with["x_client_serial"].empty());
        EXPECT_TRUE(with["x_client_cert"].starts_with("-----BEGIN%20CERTIFICATE-----"))
            << with["x_client_cert"];
    }
    {
        test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                    listener("plain", auth, "client_identity = \"xfcc\"\n"));
        auto with = facts(curl(server.port(), {"/headers"}, cert).out);
        EXPECT_TRUE(with["xfcc"].starts_with("Hash=" + hash + ";Cert=\"")) << with["xfcc"];
        EXPECT_TRUE(contains(with["xfcc"], "URI=spiffe://tlsterm.test/client/client-valid"))
            << with["xfcc"];
        auto none = facts(
            curl(server.port(), {"/headers"}, {"-H", "X-Forwarded-Client-Cert: Hash=forged"}).out);
        EXPECT_EQ(none["xfcc"], "");
    }
}

TEST_F(HttpProxyTest, MangledRequestsNeverTakeTheServerDown) {
    test::upstream_server ws("websocket-echo");
    test::tlsterm_server server(
        runtime() + upstream("plain", origin.plain_port()) + upstream("ws", ws.port()) +
        listener("plain", "", "",
                 "[[listeners.routes]]\npath_prefix = \"/ws\"\nupstream = \"ws\"\n"));
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                          "garbage", std::to_string(server.port()), ca(), "120", "5"},
                         240);
    EXPECT_EQ(r.out, "survived 120\n") << r.err << server.log().substr(0, 3000);
    EXPECT_TRUE(server.process().running());
    EXPECT_EQ(facts(curl(server.port(), {"/headers"}).out)["server"], "plain") << server.log();
    // No connection was left behind: the drain has nothing to wait for.
    auto start = std::chrono::steady_clock::now();
    server.process().signal(SIGTERM);
    EXPECT_EQ(server.process().wait(std::chrono::seconds(40)), 0) << server.log();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << server.log();
}

TEST_F(HttpProxyTest, MangledResponsesNeverTakeTheServerDown) {
    test::upstream_server bad("garbage");
    test::tlsterm_server server(
        runtime() +
        upstream("bad", bad.port(), "", "response_timeout_ms = 500\nmax_connections = 4\n") +
        listener("bad"));
    int answered = 0;
    for (int i = 0; i < 25; ++i) {
        // Four requests per client connection; HEAD now and then.
        auto r = curl(server.port(), {"/a", "/b", "/c", "/d"},
                      {"-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                       "-w", "%{http_code} ", "--max-time", "10"});
        answered += r.out.empty() ? 0 : 1;
    }
    EXPECT_GT(answered, 0);
    EXPECT_TRUE(server.process().running()) << server.log();
    auto start = std::chrono::steady_clock::now();
    server.process().signal(SIGTERM);
    EXPECT_EQ(server.process().wait(std::chrono::seconds(40)), 0) << server.log();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << server.log();
}

TEST_F(HttpProxyTest, ExpectContinueIsAnsweredBeforeTheBody) {
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    // curl sends Expect: 100-continue for bodies over 1 MiB and waits
    // (up to --expect100-timeout) for the 100 before sending.
    auto dir = test::make_temp_dir("expect");
    auto file = dir / "body.bin";
    test::write_file(file, std::string(2 << 20, 'x'));
    auto r = curl(server.port(), {"/upload/expect.bin"},
                  {"-T", file.string(), "-H", "Expect: 100-continue", "--expect100-timeout", "30",
                   "-w", "%{http_code} %{time_total}", "-o", "/dev/null"});
    EXPECT_TRUE(r.out.starts_with("201 ")) << r.out << server.log();
    EXPECT_LT(std::stod(r.out.substr(4)), 10.0);  // not the 30 s timeout
    EXPECT_EQ(std::filesystem::file_size(origin.upload_dir() / "expect.bin"), 2u << 20);
}

TEST_F(HttpProxyTest, WebSocketUpgradeBecomesATunnel) {
    test::upstream_server ws("websocket-echo");
    test::tlsterm_server server(runtime() + upstream("ws", ws.port()) + listener("ws"));
    auto r = run_process({"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py",
                          "websocket", std::to_string(server.port()), ca(), "/chat", "30"},
                         120);
    EXPECT_EQ(r.out, "echoed 30\n") << r.err << server.log();
}

TEST_F(HttpProxyTest, RefusedUpgradeEndsTheConnectionAfterItsResponse) {
    // nginx answers an Upgrade request for /headers with a plain 200: what
    // the client sent after its upgrade request is not HTTP to be parsed.
    test::tlsterm_server server(runtime() + upstream("plain", origin.plain_port()) +
                                listener("plain"));
    auto start = std::chrono::steady_clock::now();
    auto r =
        raw(server.port(),
            "GET /headers HTTP/1.1\\r\\nHost: a\\r\\nUpgrade: websocket\\r\\n"
            "Connection: Upgrade\\r\\n\\r\\nGET /headers?second HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4))
        << "the connection was left open";
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 200")) << r.out;
    EXPECT_TRUE(contains(r.out, "Connection: close\r\n")) << r.out;
    EXPECT_FALSE(contains(r.out, "second")) << r.out;
}

TEST_F(HttpProxyTest, RoutesBySniHostAndPathPrefix) {
    test::tlsterm_server server(
        runtime() + upstream("plain", origin.plain_port()) +
        upstream("brief", origin.brief_port()) +
        upstream("mtls", origin.mtls_port(), mtls_upstream_tls()) +
        listener("plain", "", "",
                 "[[listeners.routes]]\nhosts = [\"*.wild.tlsterm.test\"]\nupstream = \"brief\"\n"
                 "[[listeners.routes]]\nserver_names = [\"api.tlsterm.test\"]\npath_prefix = "
                 "\"/headers\"\nupstream = \"mtls\"\n"));
    auto served_by = [&](const std::string& host, const std::string& path,
                         const std::string& host_header = "") {
        std::vector<std::string> extra;
        if (!host_header.empty()) {
            extra = {"-H", "Host: " + host_header};
        }
        return facts(curl(server.port(), {path}, extra, host).out)["server"];
    };
    EXPECT_EQ(served_by("localhost", "/headers"), "plain");
    EXPECT_EQ(served_by("a.wild.tlsterm.test", "/headers"), "brief");
    EXPECT_EQ(served_by("localhost", "/headers", "b.wild.tlsterm.test"), "brief");    // by Host
    EXPECT_EQ(served_by("localhost", "/headers", "a.b.wild.tlsterm.test"), "plain");  // one label
    EXPECT_EQ(served_by("api.tlsterm.test", "/headers"), "mtls");
    EXPECT_EQ(served_by("api.tlsterm.test", "/files/small.txt"), "");  // plain's file, no facts
}

TEST_F(HttpProxyTest, HostMustMatchTheVerifiedServerName) {
    test::tlsterm_server server(
        runtime() + upstream("plain", origin.plain_port()) +
        listener("plain",
                 "client_auth = \"require\"\nca_files = [{ file = \"pki/root-ca.pem\", "
                 "crl_policy = \"optional\" }]\n",
                 "client_identity = \"rfc9440\"\n"));
    std::vector<std::string> cert = {"--cert", test::pki("client-valid.pem").string(), "--key",
                                     test::pki("client-valid.key").string()};
    auto same = curl(server.port(), {"/headers"}, cert, "tlsterm.test");
    auto f = facts(same.out);
    EXPECT_EQ(f["server"], "plain") << same.out << server.log();
    // The certificate reaches the origin as RFC 9440 Client-Cert.
    auto der = run_process({"sh", "-c",
                            "openssl x509 -in " + test::pki("client-valid.pem").string() +
                                " -outform DER | base64 -w0"});
    EXPECT_EQ(f["client_cert"], ":" + der.out + ":");
    // SNI tlsterm.test, Host other.test: refused before any routing.
    auto other =
        curl(server.port(), {"/headers"},
             {cert[0], cert[1], cert[2], cert[3], "-H", "Host: other.test", "-w", "%{http_code}"},
             "tlsterm.test");
    EXPECT_EQ(other.out, "421 Misdirected Request\n421") << other.out << server.log();
    EXPECT_TRUE(contains(server.log(), "is not the server name \"tlsterm.test\"")) << server.log();
}

TEST_F(HttpProxyTest, PoolPrewarmsAndRetiresConnectionsAndSkipsDeadAddresses) {
    uint16_t dead = test::unused_port();
    test::tlsterm_server server(
        runtime() + "\n[[upstreams]]\nname = \"two\"\naddresses = [\"127.0.0.1:" +
        std::to_string(dead) + "\", \"127.0.0.1:" + std::to_string(origin.plain_port()) +
        "\"]\n[upstreams.pool]\nmin_idle = 3\nmax_requests = 2\ndown_backoff_ms = 60000\n" +
        listener("two"));
    // min_idle: three connections open before any request; the dead
    // address is marked down on its first failure and then skipped.
    bool warm = false;
    for (int i = 0; i < 30 && !warm; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        server.process().signal(SIGUSR1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        warm = contains(server.log(), "upstream connections: 3 opened");
    }
    EXPECT_TRUE(warm) << server.log();
    EXPECT_TRUE(
        contains(server.log(), "connect failed: Connection refused; not tried for 60000 ms"))
        << server.log();
    EXPECT_FALSE(contains(server.log(), "not tried for 30000 ms")) << server.log();
    // max_requests = 2: six requests on one client connection use three
    // origin connections, and none of them fails.
    auto r = curl(server.port(),
                  {"/headers", "/headers", "/headers", "/headers", "/headers", "/headers"},
                  {"-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o",
                   "/dev/null", "-o", "/dev/null", "-w", "%{http_code} "});
    EXPECT_EQ(r.out, "200 200 200 200 200 200 ") << server.log();
    auto log = origin.access_log(6);
    ASSERT_EQ(log.size(), 6u);
    std::map<uint64_t, int> per_connection;
    for (const auto& e : log) {
        ++per_connection[e.connection];
    }
    for (const auto& [connection, requests] : per_connection) {
        EXPECT_LE(requests, 2) << connection;
    }
    EXPECT_GE(per_connection.size(), 3u);
}

TEST_F(HttpProxyTest, DrainClosesIdleKeepAliveConnectionsAtOnce) {
    // Pre-warmed idle origin connections must not hold the exit up either.
    test::tlsterm_server server(runtime() +
                                upstream("plain", origin.plain_port(), "", "min_idle = 2\n") +
                                listener("plain"));
    // A keep-alive client that stays connected after its response.
    std::string response;
    std::thread client([&] {
        response = raw(server.port(), "GET /headers HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n").out;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto start = std::chrono::steady_clock::now();
    server.process().signal(SIGTERM);
    EXPECT_EQ(server.process().wait(std::chrono::seconds(20)), 0) << server.log();
    client.join();
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(3)) << "waited for the drain deadline";
    EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
    EXPECT_TRUE(contains(server.log(), "closed: done=1")) << server.log();
}

}  // namespace
}  // namespace tlsterm
