// Server sessions against a real wolfSSL client over memory: certificate
// selection, ALPN, data both ways, close_notify, failures.
#include "tls/session.h"

#include <gtest/gtest.h>

#include <tlsterm/config.h>

#include "memory_peer.h"
#include "support/pki.h"
#include "tls/server_context.h"

namespace tlsterm::tls {
namespace {

std::shared_ptr<const config> make_config(const std::string& tls_extra = "") {
    return test::one_listener_config("alpn = [\"h2\", \"http/1.1\"]\n" + tls_extra);
}

struct handshake_result {
    bool ok = false;
    std::string subject;
    key_type type = key_type::ecdsa;
    std::string version;
    std::string alpn;
    std::string error;
};

handshake_result connect(const server_context& sc, test::client_options o) {
    o.ca_file = test::pki("root-ca.pem").string();  // full chain must be sent
    test::memory_client c(o);
    EXPECT_EQ(c.connect(), 0);
    client_hello hello;
    EXPECT_EQ(parse_client_hello(c.out().readable(), hello), hello_status::complete);
    auto s = session::create(sc.select(hello));
    handshake_result r;
    r.ok = test::pump_handshake(c, *s);
    r.error = s->error();
    if (r.ok) {
        r.subject = c.peer_subject();
        r.type = s->certificate_type();
        r.version = std::string(s->version());
        r.alpn = std::string(s->alpn());
    }
    return r;
}

class SessionTest : public ::testing::Test {
  protected:
    void SetUp() override {
        cfg = make_config();
        auto sc = server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls,
                                         *load_trust_anchors(*cfg));
        ASSERT_TRUE(sc) << sc.error();
        ctx = std::move(*sc);
    }
    // A server session that completed its handshake with `c`, or null.
    std::unique_ptr<session> handshaken(test::memory_client& c) {
        client_hello hello;
        if (c.connect() != 0 ||
            parse_client_hello(c.out().readable(), hello) != hello_status::complete) {
            return nullptr;
        }
        auto s = session::create(ctx->select(hello));
        return test::pump_handshake(c, *s) ? std::move(s) : nullptr;
    }

    std::shared_ptr<const config> cfg;
    std::unique_ptr<server_context> ctx;
};

TEST_F(SessionTest, DefaultCertificateWithoutSni) {
    auto r = connect(*ctx, {});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.subject, "/O=tlsterm test/CN=tlsterm.test");
    EXPECT_EQ(r.type, key_type::ecdsa);
    EXPECT_EQ(r.version, "TLSv1.3");
}

TEST_F(SessionTest, SniPicksExactAndWildcard) {
    EXPECT_EQ(connect(*ctx, {.sni = "other.test"}).subject, "/O=tlsterm test/CN=other.test");
    EXPECT_EQ(connect(*ctx, {.sni = "a.other.test"}).subject, "/O=tlsterm test/CN=other.test");
    EXPECT_EQ(connect(*ctx, {.sni = "API.TLSTERM.TEST"}).subject,
              "/O=tlsterm test/CN=tlsterm.test");
    // A wildcard covers one label only; unknown names get the default.
    client_hello deep;
    deep.supported_versions = {0x0304};
    deep.signature_schemes = {0x0403};
    deep.server_name = "a.b.other.test";
    EXPECT_EQ(ctx->select(deep).certificate_index, 0u);
    client_hello unknown = deep;
    unknown.server_name = "nowhere.example";
    EXPECT_EQ(ctx->select(unknown).certificate_index, 0u);
}

TEST_F(SessionTest, RsaOnlyClientsGetTheRsaCertificate) {
    auto r = connect(*ctx, {.sni = "tlsterm.test", .sigalgs = "RSA-PSS+SHA256:RSA+SHA256"});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.type, key_type::rsa);
    EXPECT_EQ(r.version, "TLSv1.3");

    r = connect(*ctx, {.ciphers = "ECDHE-RSA-AES128-GCM-SHA256", .max_version = TLS1_2_VERSION});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.type, key_type::rsa);
    EXPECT_EQ(r.version, "TLSv1.2");

    r = connect(*ctx, {.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384", .max_version = TLS1_2_VERSION});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.type, key_type::ecdsa);
}

TEST_F(SessionTest, AlpnByServerPreference) {
    EXPECT_EQ(connect(*ctx, {.alpn = "http/1.1,h2"}).alpn, "h2");
    EXPECT_EQ(connect(*ctx, {.alpn = "http/1.1"}).alpn, "http/1.1");
    EXPECT_EQ(connect(*ctx, {}).alpn, "");
    auto r = connect(*ctx, {.alpn = "spdy/3"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("Unrecognized protocol name"), std::string::npos) << r.error;
}

TEST_F(SessionTest, DataBothWaysAndCloseNotify) {
    test::memory_client c({});
    auto s = handshaken(c);
    ASSERT_TRUE(s);

    std::string up(1 << 20, '\0');
    for (std::size_t i = 0; i < up.size(); ++i) {
        up[i] = static_cast<char>(i * 7 + 3);
    }
    c.write(up);
    s->cipher_in().append(c.out().readable());
    c.out().clear();
    std::string got;
    std::vector<uint8_t> buf(16384);
    for (;;) {
        auto r = s->read(buf);
        if (r.status != tls_status::ok) {
            EXPECT_EQ(r.status, tls_status::want_read);
            break;
        }
        got.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    }
    EXPECT_EQ(got, up);

    std::string down(300000, 'd');
    ASSERT_EQ(s->write(std::span(reinterpret_cast<const uint8_t*>(down.data()), down.size())),
              tls_status::ok);
    c.in().append(s->cipher_out().readable());
    s->cipher_out().clear();
    EXPECT_EQ(c.read_all(), down);

    wolfSSL_shutdown(c.ssl());
    s->cipher_in().append(c.out().readable());
    EXPECT_EQ(s->read(buf).status, tls_status::closed);
}

// wolfSSL is handed whole records only: fed in uneven pieces, whatever it
// has not decrypted stays in cipher_in() as the start of one record, whose
// missing bytes record_remainder() names exactly (the boundary a switch to
// kernel records needs), on both versions.
TEST_F(SessionTest, PartRecordsStayInTheInputQueue) {
    for (int version : {0, TLS1_2_VERSION}) {
        SCOPED_TRACE(version);
        test::client_options o;
        o.max_version = version;
        test::memory_client c(o);
        auto s = handshaken(c);
        ASSERT_TRUE(s);
        std::string up(40000, 'u');
        c.write(up);  // three records
        std::vector<uint8_t> wire(c.out().readable().begin(), c.out().readable().end());
        c.out().clear();
        std::string got;
        std::vector<uint8_t> buf(65536);
        std::size_t fed = 0;
        for (std::size_t piece : {3u, 1000u, 16384u, 2u, 7000u}) {
            piece = std::min(piece, wire.size() - fed);
            s->cipher_in().append(std::span(wire).subspan(fed, piece));
            fed += piece;
            for (;;) {
                auto r = s->read(buf);
                if (r.status != tls_status::ok) {
                    ASSERT_EQ(r.status, tls_status::want_read);
                    break;
                }
                got.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
            }
            ASSERT_FALSE(s->cipher_in().empty());
            std::size_t missing = s->record_remainder();
            ASSERT_GT(missing, 0u);
            if (s->cipher_in().size() >= 5) {
                auto head = s->cipher_in().readable();
                std::size_t record = 5 + (std::size_t{head[3]} << 8 | head[4]);
                EXPECT_EQ(s->cipher_in().size() + missing, record);
            } else {
                EXPECT_EQ(s->cipher_in().size() + missing, 5u);
            }
        }
        // Exactly the missing bytes each time (one byte to start the next
        // record): every record decrypts, and nothing is read past one.
        while (fed < wire.size()) {
            std::size_t missing = std::max<std::size_t>(s->record_remainder(), 1);
            ASSERT_LE(fed + missing, wire.size());
            s->cipher_in().append(std::span(wire).subspan(fed, missing));
            fed += missing;
            for (;;) {
                auto r = s->read(buf);
                if (r.status != tls_status::ok) {
                    break;
                }
                got.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
            }
        }
        EXPECT_TRUE(s->cipher_in().empty());
        EXPECT_EQ(fed, wire.size());
        EXPECT_EQ(got, up);
    }
}

TEST_F(SessionTest, TransportEofWithoutCloseNotifyIsTruncatedClose) {
    test::memory_client c({});
    auto s = handshaken(c);
    ASSERT_TRUE(s);
    s->set_transport_eof();
    std::vector<uint8_t> buf(100);
    EXPECT_EQ(s->read(buf).status, tls_status::closed);
    EXPECT_TRUE(s->truncated());
}

TEST_F(SessionTest, GarbageAfterHandshakeFails) {
    test::memory_client c({});
    auto s = handshaken(c);
    ASSERT_TRUE(s);
    std::vector<uint8_t> junk = {23, 3,  3,  0,  20, 1,  2,  3,  4,  5,  6,  7, 8,
                                 9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    s->cipher_in().append(junk);
    std::vector<uint8_t> buf(100);
    EXPECT_EQ(s->read(buf).status, tls_status::failed);
    EXPECT_FALSE(s->error().empty());
    EXPECT_FALSE(s->cipher_out().empty());  // an alert for the client
}

// A client that asks for a ticket gets none and no session ID, on either
// version, and the context keeps no session cache (security_defaults.h).
// Also for a context limited to TLS 1.2, where the TLS 1.3 setting cannot
// be applied after the version range.
TEST(SessionResumption, NothingToResumeWith) {
    for (const char* extra : {"", "max_version = \"1.2\""}) {
        auto cfg = make_config(extra);
        auto sc = server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls,
                                         *load_trust_anchors(*cfg));
        ASSERT_TRUE(sc) << sc.error();
        for (int version : {TLS1_2_VERSION, 0}) {
            test::memory_client c({.max_version = version});
            ASSERT_EQ(wolfSSL_UseSessionTicket(c.ssl()), WOLFSSL_SUCCESS);
            ASSERT_EQ(c.connect(), 0);
            client_hello hello;
            ASSERT_EQ(parse_client_hello(c.out().readable(), hello), hello_status::complete);
            auto chosen = (*sc)->select(hello);
            long mode = wolfSSL_CTX_get_session_cache_mode(chosen.ctx);
            EXPECT_EQ(mode & WOLFSSL_SESS_CACHE_SERVER, 0) << extra;
            EXPECT_EQ(mode & WOLFSSL_SESS_CACHE_NO_INTERNAL, WOLFSSL_SESS_CACHE_NO_INTERNAL);
            EXPECT_NE(wolfSSL_CTX_get_options(chosen.ctx) & WOLFSSL_OP_NO_COMPRESSION, 0);
            auto s = session::create(chosen);
            ASSERT_TRUE(test::pump_handshake(c, *s)) << s->error();
            // Data after the handshake: a TLS 1.3 NewSessionTicket would
            // arrive before it.
            ASSERT_EQ(s->write(std::span(reinterpret_cast<const uint8_t*>("x"), 1)),
                      tls_status::ok);
            c.in().append(s->cipher_out().readable());
            s->cipher_out().clear();
            EXPECT_EQ(c.read_all(), "x");
            WOLFSSL_SESSION* got = wolfSSL_get1_session(c.ssl());
            ASSERT_NE(got, nullptr);
            EXPECT_EQ(wolfSSL_SESSION_has_ticket(got), 0) << extra << " " << version;
            unsigned int id_length = 0;
            wolfSSL_SESSION_get_id(got, &id_length);
            EXPECT_EQ(id_length, 0u) << extra << " " << version;
            wolfSSL_SESSION_free(got);
            EXPECT_FALSE(s->resumed());
        }
    }
}

TEST(SessionVersions, MinimumVersionIsEnforced) {
    auto cfg = make_config("min_version = \"1.3\"");
    auto sc = server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls,
                                     *load_trust_anchors(*cfg));
    ASSERT_TRUE(sc) << sc.error();
    auto r = connect(**sc, {.max_version = TLS1_2_VERSION});
    EXPECT_FALSE(r.ok);
    r = connect(**sc, {});
    EXPECT_TRUE(r.ok) << r.error;
}

TEST(SessionVersions, MaximumVersionIsEnforced) {
    auto cfg = make_config("max_version = \"1.2\"");
    auto sc = server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls,
                                     *load_trust_anchors(*cfg));
    ASSERT_TRUE(sc) << sc.error();
    auto r = connect(**sc, {});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.version, "TLSv1.2");
}

}  // namespace
}  // namespace tlsterm::tls
