// JA4 against a published fingerprint (a Chrome 143 hello: its JA4, and its
// suites, extensions and signature algorithms in the client's order, as
// FoxIO's tools print them in ja4_ro), GREASE ignored everywhere, and the
// corners of the definition: no SNI, no ALPN, an ALPN value that does not
// begin and end alphanumeric, no suites or extensions, counts over 99.
#include "tls/ja4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "unit/tls/memory_peer.h"

namespace tlsterm::tls {
namespace {

const std::vector<uint16_t> chrome_suites = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                             0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                             0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
const std::vector<uint16_t> chrome_extensions = {0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd,
                                                 0x0000, 0x000b, 0x000a, 0x002b, 0xff01, 0x0023,
                                                 0x0012, 0x0005, 0x000d, 0x001b};
const std::vector<uint16_t> chrome_schemes = {0x0403, 0x0804, 0x0401, 0x0503,
                                              0x0805, 0x0501, 0x0806, 0x0601};

client_hello chrome_143() {
    client_hello h;
    h.legacy_version = 0x0303;
    h.server_name = "tls.browserleaks.com";
    h.alpn = {"h2", "http/1.1"};
    h.cipher_suites = chrome_suites;
    h.extensions = chrome_extensions;
    h.signature_schemes = chrome_schemes;
    h.supported_versions = {0x0304, 0x0303};
    return h;
}

TEST(Ja4, APublishedFingerprint) {
    EXPECT_EQ(ja4(chrome_143()), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
}

TEST(Ja4, GreaseCountsNowhere) {
    client_hello h = chrome_143();
    h.cipher_suites = {0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                       0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    h.extensions = {0xdada, 0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b,
                    0x000a, 0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b, 0x1a1a};
    h.signature_schemes = {0x0403, 0x0804, 0x8a8a, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
    h.supported_versions = {0x7a7a, 0x0304, 0x0303};
    EXPECT_EQ(ja4(h), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    // 0x0a0b is no GREASE value: counted.
    h.cipher_suites = {0x0a0b, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                       0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    EXPECT_TRUE(ja4(h).starts_with("t13d1616h2_")) << ja4(h);
}

TEST(Ja4, Corners) {
    client_hello h = chrome_143();
    // No SNI, no ALPN, TLS 1.2 only: "i", "00", the legacy version.
    h.extensions = {0x002d, 0x0033, 0xfe0d, 0x0017, 0x44cd, 0x000b, 0x000a,
                    0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b};
    h.alpn.clear();
    h.supported_versions.clear();
    EXPECT_EQ(ja4(h), "t12i151400_8daaf6152771_d8a2da3f94cd");
    // An ALPN value that does not begin and end alphanumeric: the first and
    // last hex digits of the value.
    h.alpn = {
        std::string("\xab"
                    "c",
                    2)};
    EXPECT_EQ(ja4(h).substr(8, 2), "a3");
    h.alpn = {"http/1.1"};
    EXPECT_EQ(ja4(h).substr(8, 2), "h1");
    // Nothing to hash: twelve zeros; no signature algorithms: the sorted
    // extensions alone.
    client_hello empty;
    empty.legacy_version = 0x0303;
    EXPECT_EQ(ja4(empty), "t12i000000_000000000000_000000000000");
    h.signature_schemes.clear();
    EXPECT_EQ(ja4(h).substr(24), "1e53c2b25e87") << ja4(h);
    // Counts stop at 99.
    h.cipher_suites = std::vector<uint16_t>(150, 0x1301);
    EXPECT_EQ(ja4(h).substr(4, 2), "99");
}

// A hello as tlsterm reads it off the wire: every extension's type kept in
// the client's order, so the fingerprint of a real client is the one its
// bytes make.
TEST(Ja4, FromAHelloOnTheWire) {
    test::memory_client c(test::client_options{.sni = "tlsterm.test", .alpn = "http/1.1"});
    ASSERT_EQ(c.connect(), 0);
    auto r = c.out().readable();
    std::vector<uint8_t> bytes(r.begin(), r.end());
    client_hello h;
    ASSERT_EQ(parse_client_hello(bytes, h), hello_status::complete);
    ASSERT_FALSE(h.extensions.empty());
    EXPECT_NE(std::ranges::find(h.extensions, uint16_t{0x0000}), h.extensions.end());
    const std::string fingerprint = ja4(h);
    EXPECT_TRUE(fingerprint.starts_with("t13d")) << fingerprint;
    EXPECT_EQ(fingerprint.substr(8, 2), "h1") << fingerprint;
    EXPECT_EQ(fingerprint.size(), 36u) << fingerprint;
    EXPECT_EQ(fingerprint[10], '_');
    EXPECT_EQ(fingerprint[23], '_');
}

}  // namespace
}  // namespace tlsterm::tls
