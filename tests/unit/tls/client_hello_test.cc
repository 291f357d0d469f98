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
    // The first record alone is not enough.
    EXPECT_EQ(parse_client_hello(std::span(split).first(45), h), hello_status::need_more);
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
    EXPECT_EQ(parse_client_hello(empty_record, h), hello_status::malformed);
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

}  // namespace
}  // namespace tlsterm::tls
