#include "tls/client_hello.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "memory_peer.h"

namespace tlsterm::tls {
namespace {

std::vector<uint8_t> hello_bytes(const test::client_options& o) {
    test::memory_client c(o);
    EXPECT_EQ(c.connect(), 0);
    auto r = c.out().readable();
    return {r.begin(), r.end()};
}

TEST(ClientHello, ReadsSniAlpnAndCapabilities) {
    auto bytes = hello_bytes({.sni = "API.Tlsterm.Test", .alpn = "http/1.1,h2"});
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    EXPECT_EQ(h.server_name, "api.tlsterm.test");
    EXPECT_EQ(h.alpn, (std::vector<std::string>{"http/1.1", "h2"}));
    EXPECT_TRUE(h.offers_tls13());
    EXPECT_TRUE(h.accepts_ecdsa(true));
    EXPECT_FALSE(h.cipher_suites.empty());
    EXPECT_FALSE(h.groups.empty());
    ASSERT_FALSE(h.key_shares.empty());
    EXPECT_EQ(h.legacy_version, 0x0303);
}

TEST(ClientHello, RsaOnlyClientDoesNotAcceptEcdsa) {
    auto bytes = hello_bytes({.sigalgs = "RSA-PSS+SHA256:RSA+SHA256"});
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    EXPECT_FALSE(h.accepts_ecdsa(true));

    bytes = hello_bytes({.ciphers = "ECDHE-RSA-AES128-GCM-SHA256", .max_version = TLS1_2_VERSION});
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    EXPECT_FALSE(h.offers_tls13());
    EXPECT_FALSE(h.accepts_ecdsa(false));
    EXPECT_TRUE(h.server_name.empty());
    EXPECT_TRUE(h.alpn.empty());
}

TEST(ClientHello, ReassemblesAcrossRecords) {
    auto bytes = hello_bytes({.sni = "tlsterm.test"});
    ASSERT_GT(bytes.size(), 60u);
    // Re-wrap the handshake message in two records split at byte 40.
    std::vector<uint8_t> msg(bytes.begin() + 5, bytes.end());
    std::vector<uint8_t> split;
    auto add_record = [&](std::size_t from, std::size_t to) {
        std::size_t len = to - from;
        split.insert(split.end(),
                     {22, 3, 1, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)});
        split.insert(split.end(), msg.begin() + static_cast<long>(from),
                     msg.begin() + static_cast<long>(to));
    };
    add_record(0, 40);
    add_record(40, msg.size());
    client_hello h;
    ASSERT_EQ(parse_client_hello(split, h), hello_status::complete);
    EXPECT_EQ(h.server_name, "tlsterm.test");
    // Rebuilt as the one record it fits in.
    EXPECT_EQ(h.consumed, split.size());
    std::vector<uint8_t> whole = {22, 3, 1, static_cast<uint8_t>(msg.size() >> 8),
                                  static_cast<uint8_t>(msg.size())};
    whole.insert(whole.end(), msg.begin(), msg.end());
    EXPECT_EQ(h.records, whole);
    // The first record alone is not enough.
    EXPECT_EQ(parse_client_hello(std::span(split).first(45), h), hello_status::need_more);
}

TEST(ClientHello, HeaderSplitAcrossOneByteRecords) {
    auto bytes = hello_bytes({.sni = "tlsterm.test"});
    std::vector<uint8_t> msg(bytes.begin() + 5, bytes.end());
    std::vector<uint8_t> tiny;
    for (std::size_t i = 0; i < msg.size(); ++i) {
        std::size_t len = i < 6 ? 1 : msg.size() - i;  // the 4-byte header in 1-byte records
        tiny.insert(tiny.end(),
                    {22, 3, 1, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len & 0xff)});
        tiny.insert(tiny.end(), msg.begin() + static_cast<long>(i),
                    msg.begin() + static_cast<long>(i + len));
        i += len - 1;
    }
    tiny.push_back(20);  // the start of whatever comes next stays in the input
    client_hello h;
    ASSERT_EQ(parse_client_hello(tiny, h), hello_status::complete);
    EXPECT_EQ(h.server_name, "tlsterm.test");
    EXPECT_EQ(h.consumed, tiny.size() - 1);
    EXPECT_EQ(h.records.size(), msg.size() + 5);
}

// A listener's groups and suites for refuse_hello.
const std::vector<uint16_t> groups = {29, 23, 24};
const std::vector<uint16_t> suites = {0x1301, 0x1302, 0xc02b, 0xc02f};

// wolfSSL reads 150 cipher suites at most (WOLFSSL_MAX_SUITE_SZ): a hello
// with more is refused here with decode_error, the answer wolfSSL sends.
TEST(ClientHello, MoreCipherSuitesThanAreReadIsADecodeError) {
    auto bytes = hello_bytes({});
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    std::vector<uint16_t> offered(max_cipher_suites, 0xe000);
    offered.back() = 0x1301;
    h.cipher_suites = offered;
    EXPECT_EQ(refuse_hello(h, 0x0303, 0x0304, groups, suites), std::nullopt);
    offered.resize(max_cipher_suites + 1, 0x1302);
    h.cipher_suites = offered;
    auto r = refuse_hello(h, 0x0303, 0x0304, groups, suites);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::decode_error);
    EXPECT_EQ(r->reason, "151 cipher suites offered (at most 150 are read)");
}

// The largest hello served: a full session id, 150 suites, 255 compression
// methods and 65,535 bytes of extensions, in records of 2^14 bytes; one
// byte more is too large, and so are records adding up to more than twice
// that (a hello in 1-byte records is six times its size).
TEST(ClientHello, TheLargestHelloIsReadAndOneByteMoreIsNot) {
    EXPECT_EQ(max_client_hello, 66166u);
    auto records = [](std::size_t body_length, std::size_t per_record) {
        std::string message(4 + body_length, '\0');
        message[0] = 1;
        message[1] = static_cast<char>(body_length >> 16);
        message[2] = static_cast<char>(body_length >> 8);
        message[3] = static_cast<char>(body_length);
        std::string out;
        for (std::size_t at = 0; at < message.size(); at += per_record) {
            std::size_t n = std::min(per_record, message.size() - at);
            out += std::string{22, 3, 1, static_cast<char>(n >> 8), static_cast<char>(n)};
            out += message.substr(at, n);
        }
        return std::vector<uint8_t>(out.begin(), out.end());
    };
    client_hello h;
    // All zeros: not a valid body, but read to its end (not too large).
    EXPECT_EQ(parse_client_hello(records(max_client_hello - 4, 16384), h), hello_status::malformed);
    EXPECT_EQ(parse_client_hello(records(max_client_hello - 3, 16384), h), hello_status::too_large);
    EXPECT_EQ(parse_client_hello(records(max_client_hello - 4, 1), h), hello_status::too_large);
    EXPECT_EQ(parse_client_hello(records(20000, 8), h), hello_status::malformed);
}

// No cipher suite of the version the handshake would use in common:
// handshake_failure (RFC 5246 7.4.1.3, RFC 8446 4.1.1), whatever the other
// version's suites.
TEST(ClientHello, NoCipherSuiteInCommonIsAHandshakeFailure) {
    auto bytes = hello_bytes({});
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    client_hello tls12 = h;  // no extensions: TLS 1.2, AES128-SHA and the SCSV
    tls12.supported_versions.clear();
    tls12.legacy_version = 0x0303;
    tls12.groups.clear();
    tls12.cipher_suites = {0x002f, 0x00ff};
    auto r = refuse_hello(tls12, 0x0303, 0x0304, groups, suites);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::handshake_failure);
    EXPECT_EQ(r->reason, "no cipher suite in common for TLS 1.2 (client offers 0x002f,0x00ff)");
    tls12.cipher_suites = {0x002f, 0xc02f};
    EXPECT_EQ(refuse_hello(tls12, 0x0303, 0x0304, groups, suites), std::nullopt);
    tls12.cipher_suites = {0x1301};  // a TLS 1.3 suite does not serve TLS 1.2
    EXPECT_EQ(refuse_hello(tls12, 0x0303, 0x0304, groups, suites)->what, alert::handshake_failure);
    client_hello tls13 = h;
    tls13.cipher_suites = {0xc02b, 0x1303};  // TLS 1.3 negotiated, its suite not served
    r = refuse_hello(tls13, 0x0303, 0x0304, groups, suites);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, "no cipher suite in common for TLS 1.3 (client offers 0xc02b,0x1303)");
    tls13.cipher_suites = {0x1302};
    EXPECT_EQ(refuse_hello(tls13, 0x0303, 0x0304, groups, suites), std::nullopt);
}

TEST(ClientHello, RefusedBeforeTheLibraryWithTheRightAlert) {
    auto bytes = hello_bytes({});
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    std::vector<uint16_t> ours = {29, 23, 24};
    EXPECT_EQ(refuse_hello(h, 0x0303, 0x0304, ours), std::nullopt);
    // No group in common: handshake_failure (wolfSSL would send a
    // HelloRetryRequest that can never succeed).
    client_hello other = h;
    other.groups = {30, 256, 0x1234};
    auto r = refuse_hello(other, 0x0303, 0x0304, ours);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::handshake_failure);
    EXPECT_EQ(r->reason, "no key-exchange group in common (client offers 30,256,4660)");
    // No version in common: protocol_version.
    client_hello old = h;
    old.supported_versions.clear();
    old.legacy_version = 0x0301;
    r = refuse_hello(old, 0x0303, 0x0304, ours);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::protocol_version);
    EXPECT_EQ(r->reason,
              "no TLS version in common (client: legacy_version 0x0301, tlsterm: 0x0303 to "
              "0x0304)");
    client_hello only12 = h;
    only12.supported_versions = {0x0303};
    EXPECT_EQ(refuse_hello(only12, 0x0304, 0x0304, ours)->what, alert::protocol_version);
    EXPECT_EQ(refuse_hello(only12, 0x0303, 0x0304, ours), std::nullopt);
    // A TLS 1.2 client naming TLS 1.3 in legacy_version negotiates TLS 1.2.
    old.legacy_version = 0x0304;
    EXPECT_EQ(refuse_hello(old, 0x0303, 0x0304, ours), std::nullopt);
    // SSL 3.0 in legacy_version: protocol_version even with supported_versions.
    client_hello ssl3 = h;
    ssl3.legacy_version = 0x0300;
    r = refuse_hello(ssl3, 0x0303, 0x0304, ours);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::protocol_version);
    // An invalid TLS 1.3 key share of a served group: illegal_parameter; of
    // another group, or when TLS 1.2 is negotiated, it is never used.
    client_hello bad_share = h;
    bad_share.key_shares = {{29, std::vector<uint8_t>(32, 0)}};
    r = refuse_hello(bad_share, 0x0303, 0x0304, ours);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, alert::illegal_parameter);
    EXPECT_EQ(r->reason,
              "invalid key share for group 29: a point of small order (the shared secret would "
              "be zero)");
    EXPECT_EQ(refuse_hello(bad_share, 0x0303, 0x0303, ours), std::nullopt);
    EXPECT_EQ(refuse_hello(bad_share, 0x0303, 0x0304, std::vector<uint16_t>{23}), std::nullopt);
}

TEST(ClientHello, NeedsMoreUntilComplete) {
    auto bytes = hello_bytes({});
    client_hello h;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{5},
                          bytes.size() / 2, bytes.size() - 1}) {
        EXPECT_EQ(parse_client_hello(std::span(bytes).first(n), h), hello_status::need_more) << n;
    }
}

TEST(ClientHello, RefusesWhatIsNotAClientHello) {
    std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    client_hello h;
    EXPECT_EQ(parse_client_hello(
                  std::span(reinterpret_cast<const uint8_t*>(http.data()), http.size()), h),
              hello_status::not_tls);
    std::vector<uint8_t> server_hello = {22, 3, 3, 0, 4, 2, 0, 0, 0};
    EXPECT_EQ(parse_client_hello(server_hello, h), hello_status::malformed);
    std::vector<uint8_t> empty_record = {22, 3, 1, 0, 0};
    EXPECT_EQ(parse_client_hello(empty_record, h), hello_status::unexpected);
    std::vector<uint8_t> application_data = {23, 3, 3, 0, 1, 0};
    EXPECT_EQ(parse_client_hello(application_data, h), hello_status::unexpected);
    // SSLv2-format ClientHello (length with the top bit set, type 1).
    std::vector<uint8_t> sslv2 = {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15};
    EXPECT_EQ(parse_client_hello(sslv2, h), hello_status::not_tls);
    // A plaintext record may carry at most 2^14 bytes.
    std::vector<uint8_t> overflow = {22, 3, 1, 0x40, 0x01, 1, 0, 0x40, 0x00};
    EXPECT_EQ(parse_client_hello(overflow, h), hello_status::record_overflow);
    EXPECT_EQ(alert_for(hello_status::record_overflow), alert::record_overflow);
    EXPECT_EQ(alert_for(hello_status::unexpected), alert::unexpected_message);
    EXPECT_EQ(alert_for(hello_status::not_tls), alert::unexpected_message);
    EXPECT_EQ(alert_for(hello_status::malformed), alert::decode_error);
    EXPECT_EQ(alert_for(hello_status::too_large), alert::decode_error);
    EXPECT_EQ(alert_record(alert::decode_error), (std::array<uint8_t, 7>{21, 3, 3, 0, 2, 2, 50}));
    // A ClientHello that claims 16 MiB.
    std::vector<uint8_t> huge = {22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
    EXPECT_EQ(parse_client_hello(huge, h), hello_status::too_large);
    // Truncated extensions inside a complete message.
    auto bytes = hello_bytes({.sni = "tlsterm.test"});
    std::size_t msg_len = bytes.size() - 5;
    bytes[bytes.size() - msg_len + 1] = 0;  // keep record, shrink handshake length...
    bytes[6] = 0;
    bytes[7] = 0;
    bytes[8] = 50;  // ...to 50 bytes: extensions cut mid-way
    EXPECT_EQ(parse_client_hello(bytes, h), hello_status::malformed);
}

TEST(ClientHello, HelloRetryRequestIsKnownByItsRandom) {
    // A ServerHello record: header, handshake header, legacy_version, the
    // HelloRetryRequest random, then the rest of the message.
    std::vector<uint8_t> flight = {22, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3};
    const std::vector<uint8_t> random = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
                                         0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                                         0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
                                         0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    flight.insert(flight.end(), random.begin(), random.end());
    flight.insert(flight.end(), 54, 0);
    EXPECT_TRUE(is_hello_retry_request(flight));
    for (std::size_t at : {0u, 5u, 11u, 42u}) {
        auto altered = flight;
        altered[at] ^= 1;  // another record type, message type or random
        EXPECT_FALSE(is_hello_retry_request(altered)) << at;
    }
    EXPECT_FALSE(is_hello_retry_request(std::span(flight).first(42)));
    EXPECT_FALSE(is_hello_retry_request({}));
}

}  // namespace
}  // namespace tlsterm::tls
