// What a TLS conformance suite checks of the first flight, with real bytes
// on a real socket: crafted records from tests/integration/peers/
// hello_peer.py and openssl s_client. Each refusal gets the alert RFC 8446
// (or 5246) names, at once; valid but unusual framing is accepted.
#include <gtest/gtest.h>

#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

using test::contains;
using test::run_process;

// One shard, one listener of `mode` in front of `upstream_port`; `limits`
// goes in a [limits] table.
std::string one_listener(uint16_t upstream_port, const std::string& limits = "",
                         const std::string& mode = "tcp") {
    return "[runtime]\nshards = 1\nlog_level = \"debug\"\n" +
           (limits.empty() ? std::string() : "[limits]\n" + limits) +
           "[[upstreams]]\nname = \"up\"\naddresses = [\"127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"]\n[[listeners]]\nname = \"main\"\naddress = \"127.0.0.1:0\"\nupstream = \"up\"\n"
           "mode = \"" +
           mode + "\"\n[listeners.tls]\n" + test::certificate_tables("pki/");
}

// The listener modes this machine serves with records in userspace, where
// wolfSSL answers; kernel records (ktls) answer in src/transport/
// kernel_records.cc (tests/unit/transport/kernel_records_test.cc, tests/vm).
const char* const userspace_modes[] = {"tcp", "http"};

class TlsConformanceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        upstream = std::make_unique<test::upstream_server>("http");
        server = std::make_unique<test::tlsterm_server>(one_listener(upstream->port()));
    }
    std::string peer(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {
            "python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/hello_peer.py"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_process(argv, 30);
        return r.out + r.err;
    }
    std::string raw(const std::string& hex) {
        return peer({"raw", std::to_string(server->port()), hex});
    }
    test::process_result s_client(const std::string& args) {
        return run_process(
            {"sh", "-c",
             "openssl s_client -connect 127.0.0.1:" + std::to_string(server->port()) + " -CAfile " +
                 test::pki("root-ca.pem").string() + " " + args + " </dev/null 2>&1"},
            20);
    }
    std::unique_ptr<test::upstream_server> upstream;
    std::unique_ptr<test::tlsterm_server> server;
};

TEST_F(TlsConformanceTest, RefusedFirstFlightsGetTheirAlert) {
    struct flight {
        const char* what;
        std::string hex;
        std::string answer;
    };
    for (const auto& f : std::vector<flight>{
             // Not TLS at all: plain HTTP, an SSLv2-format hello.
             {"plain HTTP", "474554202f20485454502f312e310d0a0d0a", "alert 10"},
             {"SSLv2 hello", "802e0103010015000000100000", "alert 10"},
             // TLS records out of place: application data, an empty handshake fragment.
             {"application data first", "170303000100", "alert 10"},
             {"empty handshake record", "1603010000", "alert 10"},
             // A plaintext record over 2^14 bytes.
             {"record over 2^14", "1603014001+00x16385", "alert 22"},
             // A complete handshake message too short for a ClientHello.
             {"truncated ClientHello", "16030100080100000403030000", "alert 50"},
             // A ClientHello claiming more than 64 KiB.
             {"over 64 KiB", "16030100040101ffff", "alert 50"},
             // A ServerHello where a ClientHello belongs.
             {"not a ClientHello", "160303000402000000", "alert 50"},
         }) {
        EXPECT_EQ(raw(f.hex), f.answer + "\n") << f.what << "\n" << server->log();
    }
}

TEST_F(TlsConformanceTest, NoCommonGroupOrVersionIsRefusedAtOnce) {
    // No group tlsterm serves (X25519, P-256, P-384 by default): wolfSSL
    // alone sent a HelloRetryRequest and then waited for the timeout.
    for (const char* args :
         {"-tls1_3 -groups ffdhe2048", "-tls1_3 -groups secp521r1", "-tls1_2 -curves secp521r1"}) {
        auto r = s_client(args);
        EXPECT_TRUE(contains(r.out, "alert handshake failure")) << args << "\n" << r.out;
    }
    EXPECT_TRUE(
        server->process().wait_for_output("TLS handshake refused: no key-exchange group in common"))
        << server->log();
    // groups holds on TLS 1.2 too: P-521 first, P-256 second gets P-256.
    auto r = s_client("-tls1_2 -curves secp521r1:prime256v1");
    EXPECT_TRUE(contains(r.out, "Server Temp Key: ECDH, prime256v1")) << r.out;
    // A TLS 1.1 client: protocol_version, not illegal_parameter.
    r = s_client("-tls1_1 -cipher DEFAULT@SECLEVEL=0");
    EXPECT_TRUE(contains(r.out, "alert protocol version")) << r.out;
    EXPECT_TRUE(server->process().wait_for_output(
        "no TLS version in common (client: legacy_version 0x0302"))
        << server->log();
}

// No cipher suite in common: handshake_failure and nothing else (wolfSSL
// 5.5.4 alone answered a TLS 1.2 hello with a ServerHello naming suite
// 0x0000, a Certificate and ServerHelloDone).
TEST_F(TlsConformanceTest, NoCommonCipherSuiteIsAHandshakeFailure) {
    // TLS 1.2, no extensions, AES128-SHA and the renegotiation SCSV.
    EXPECT_EQ(raw("160301002f0100002b0303" + std::string(64, '0') + "000004002f00ff0100"),
              "alert 40\n")
        << server->log();
    auto r = s_client("-tls1_2 -cipher AES128-SHA");
    EXPECT_TRUE(contains(r.out, "alert handshake failure")) << r.out;
    EXPECT_FALSE(contains(r.out, "Server certificate")) << r.out;
    r = s_client("-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256");
    EXPECT_TRUE(contains(r.out, "alert handshake failure")) << r.out;
    EXPECT_TRUE(server->process().wait_for_output(
        "no cipher suite in common for TLS 1.2 (client offers 0x002f,0x00ff)"))
        << server->log();
}

// Invalid key shares are refused with illegal_parameter before anything is
// derived from them; valid ones of the same shape get a ServerHello.
TEST_F(TlsConformanceTest, InvalidKeySharesGetIllegalParameter) {
    auto point =
        run_process({"sh", "-c",
                     "openssl ecparam -genkey -name prime256v1 | openssl ec -pubout -outform DER "
                     "2>/dev/null | tail -c 65 | od -An -tx1 | tr -d ' \\n'"});
    std::string p256 = point.out;
    ASSERT_EQ(p256.size(), 130u) << point.out << point.err;
    std::string off_curve = p256.substr(0, 128) + (p256.substr(128) == "00" ? "01" : "00");
    std::string x_is_p =
        "04ffffffff00000001000000000000000000000000ffffffffffffffffffffffff" + p256.substr(66);
    auto share = [&](const char* group, const std::string& hex) {
        return peer({"key-share", std::to_string(server->port()), group, hex});
    };
    EXPECT_EQ(share("23", p256), "record 22\n") << server->log();
    EXPECT_EQ(share("23", off_curve), "alert 47\n");
    EXPECT_EQ(share("23", std::string(130, '0')), "alert 47\n");      // all zero
    EXPECT_EQ(share("23", x_is_p), "alert 47\n");                     // a coordinate >= p
    EXPECT_EQ(share("23", "00"), "alert 47\n");                       // the point at infinity
    EXPECT_EQ(share("23", "02" + p256.substr(2, 64)), "alert 47\n");  // compressed
    EXPECT_EQ(share("23", p256.substr(0, 100)), "alert 47\n");        // truncated
    EXPECT_EQ(share("29", std::string(64, '4')), "record 22\n");
    EXPECT_EQ(share("29", std::string(64, '0')), "alert 47\n");  // low order: all-zero secret
    EXPECT_EQ(share("29", "01" + std::string(62, '0')), "alert 47\n");
    EXPECT_TRUE(contains(server->log(), "invalid key share for group 23: not on the curve"))
        << server->log();
}

// RFC 8446 appendix D.4: a client that sent a legacy session id gets a
// ChangeCipherSpec right after the ServerHello (OpenSSL, nginx and HAProxy
// send it); one that sent none gets none.
TEST_F(TlsConformanceTest, MiddleboxCompatibilityChangeCipherSpec) {
    auto r = s_client("-tls1_3 -msg");
    EXPECT_TRUE(contains(r.out, "<<< TLS 1.2, RecordHeader [length 0005]\n    14 03 03 00 01"))
        << r.out;
    r = s_client("-tls1_3 -msg -no_middlebox");
    EXPECT_FALSE(contains(r.out, "14 03 03 00 01")) << r.out;
    EXPECT_TRUE(contains(r.out, "New, TLSv1.3")) << r.out;
}

TEST_F(TlsConformanceTest, ClientHelloInTinyRecordsIsAccepted) {
    // Records of 1, 2 and 3 handshake bytes split the 4-byte handshake
    // header itself across records: valid TLS (RFC 8446 section 5.1).
    for (const char* size : {"1", "2", "3", "100"}) {
        EXPECT_EQ(peer({"fragmented", std::to_string(server->port()),
                        test::pki("root-ca.pem").string(), size}),
                  "HTTP/1.1 200 OK\n")
            << size << "\n"
            << server->log();
    }
}

// After the handshake a record that fails to decrypt ends the connection
// with bad_record_mac alone, one with content type 0 with
// unexpected_message alone (tools/wolfssl-patches/0002): a fatal alert,
// never the close_notify of a clean end.
TEST_F(TlsConformanceTest, RecordErrorsNeverEndWithCloseNotify) {
    for (const char* version : {"1.2", "1.3"}) {
        auto out = peer({"bad-record", std::to_string(server->port()),
                         test::pki("root-ca.pem").string(), version});
        EXPECT_EQ(out, "alert SSLV3_ALERT_BAD_RECORD_MAC, 1 record(s)\n") << version << "\n"
                                                                          << server->log();
        out = peer({"bad-record", std::to_string(server->port()), test::pki("root-ca.pem").string(),
                    version, "type0"});
        EXPECT_EQ(out, "alert SSLV3_ALERT_UNEXPECTED_MESSAGE, 1 record(s)\n") << version << "\n"
                                                                              << server->log();
    }
}

// RFC 8446 4.2.8: key shares of groups the server does not know are
// skipped and the known one used, however large the hello they make
// (spread over records of 2^14 bytes; tools/wolfssl-patches/0008 and
// MAX_HANDSHAKE_SZ in tools/build-wolfssl). Beyond tls::max_client_hello
// (66,166 bytes) or 150 cipher suites: decode_error, never a silent close.
TEST_F(TlsConformanceTest, LargeClientHellosAreServed) {
    for (const char* mode : userspace_modes) {
        test::tlsterm_server s(one_listener(upstream->port(), "", mode));
        auto port = std::to_string(s.port());
        for (const char* size : {"29000", "64000", "65600"}) {
            EXPECT_EQ(peer({"big-hello", port, size}), std::string(size) + " bytes: record 22\n")
                << mode << " " << size << "\n"
                << s.log();
        }
        // Extensions as long as they may be, then some 280 cipher suites.
        EXPECT_EQ(peer({"big-hello", port, "66100"}), "66100 bytes: alert 50\n") << mode;
        EXPECT_TRUE(contains(s.log(), " cipher suites offered (at most 150 are read)")) << s.log();
        // A handshake header claiming 131,072 bytes.
        EXPECT_EQ(peer({"raw", port, "160301000401020000"}), "alert 50\n") << mode;
        EXPECT_TRUE(contains(s.log(), "ClientHello too large")) << s.log();
    }
}

// After the handshake: a TLS 1.3 record with no content type (all
// padding) or an unknown one gets unexpected_message, an empty KeyUpdate
// decode_error, a ClientHello unexpected_message (RFC 8446 5.4, 4.6.3,
// 4.1.2); on TLS 1.2 a KeyUpdate (no such message) unexpected_message.
// Each alone, then the end (tools/wolfssl-patches/0006, 0007).
TEST_F(TlsConformanceTest, PostHandshakeRecordsGetTheirAlert) {
    struct record {
        const char* version;
        const char* what;
        const char* answer;
    };
    const record records[] = {
        {"1.3", "padding", "alert fatal 10, eof\n"},
        {"1.3", "inner-type", "alert fatal 10, eof\n"},
        {"1.3", "empty-key-update", "alert fatal 50, eof\n"},
        {"1.3", "renegotiate", "alert fatal 10, eof\n"},
        {"1.2", "inner-type", "alert fatal 10, eof\n"},
        {"1.2", "empty-key-update", "alert fatal 10, eof\n"},
    };
    for (const char* mode : userspace_modes) {
        test::tlsterm_server s(one_listener(upstream->port(), "", mode));
        for (const auto& r : records) {
            EXPECT_EQ(peer({"after-handshake", std::to_string(s.port()),
                            test::pki("root-ca.pem").string(), r.version, r.what}),
                      r.answer)
                << mode << " TLS " << r.version << " " << r.what << "\n"
                << s.log();
        }
    }
}

// RFC 5246 7.4.1.2 and 5746 4.4: a ClientHello on an established TLS 1.2
// connection gets a warning no_renegotiation, and the connection goes on:
// the request sent after it under the same keys is answered, and the
// connection ends with close_notify (tools/wolfssl-patches/0007).
TEST_F(TlsConformanceTest, RenegotiationGetsAWarningAndTheConnectionGoesOn) {
    for (const char* mode : userspace_modes) {
        test::tlsterm_server s(one_listener(upstream->port(), "", mode));
        auto out = peer({"after-handshake", std::to_string(s.port()),
                         test::pki("root-ca.pem").string(), "1.2", "renegotiate"});
        EXPECT_TRUE(out.starts_with("alert warning 100, HTTP/1.")) << mode << ": " << out;
        EXPECT_TRUE(contains(out, " 200 ")) << mode << ": " << out;
        EXPECT_TRUE(out.ends_with("alert warning 0, eof\n")) << mode << ": " << out << s.log();
    }
}

// A flood from one address cannot crowd out other clients: its connections
// beyond limits.max_connections_per_address, or faster than
// handshake_rate_per_address, are closed at accept, before any TLS.
TEST(AdmissionTest, FloodsFromOneAddressLeaveRoomForOthers) {
    test::upstream_server upstream("http");
    test::tlsterm_server server(one_listener(upstream.port(),
                                             "max_connections_per_shard = 60\n"
                                             "max_connections_per_address = 20\n"
                                             "handshake_rate_per_address = 1000\n"));
    auto peer = std::string(TLSTERM_SOURCE_DIR) + "/tests/integration/peers/hello_peer.py";
    // Two attackers, 50 idle connections each: without a per-address limit
    // they would fill all 60 slots.
    auto dir = test::make_temp_dir("flood");
    std::vector<std::unique_ptr<test::child_process>> floods;
    for (const char* source : {"127.0.0.2", "127.0.0.3"}) {
        floods.push_back(std::make_unique<test::child_process>(
            std::vector<std::string>{"python3", peer, "flood", std::to_string(server.port()),
                                     source, "50", "6"},
            dir / (std::string(source) + ".log")));
    }
    for (auto& f : floods) {
        ASSERT_TRUE(f->wait_for_output("closed ")) << f->output();
        EXPECT_TRUE(contains(f->output(), "closed 30 of 50")) << f->output();
    }
    // Meanwhile everyone else is served.
    for (int i = 0; i < 10; ++i) {
        auto r = test::curl(server.port(), {"/"}, {"-o", "/dev/null", "-w", "%{http_code}"});
        EXPECT_EQ(r.out, "200") << r.err << server.log();
    }
    EXPECT_TRUE(contains(server.log(), "address_limit (limits.max_connections_per_address)"))
        << server.log();
    for (auto& f : floods) {
        f->wait(std::chrono::seconds(20));
    }
}

TEST(AdmissionTest, HandshakeRatePerAddress) {
    test::upstream_server upstream("http");
    test::tlsterm_server server(one_listener(upstream.port(), "handshake_rate_per_address = 10\n"));
    auto peer = std::string(TLSTERM_SOURCE_DIR) + "/tests/integration/peers/hello_peer.py";
    auto r = run_process(
        {"python3", peer, "flood", std::to_string(server.port()), "127.0.0.2", "40", "0"}, 30);
    // A second's worth (10) is let in at once; the rest of a burst is not.
    EXPECT_TRUE(contains(r.out, "closed 30 of 40") || contains(r.out, "closed 29 of 40")) << r.out;
    auto ok = test::curl(server.port(), {"/"}, {"-o", "/dev/null", "-w", "%{http_code}"});
    EXPECT_EQ(ok.out, "200") << ok.err;
    EXPECT_TRUE(contains(server.log(), "handshake_rate (limits.handshake_rate(_per_address))"))
        << server.log();
}

}  // namespace
}  // namespace tlsterm
