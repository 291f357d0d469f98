#include "tls/key_share.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/process.h"

namespace tlsterm::tls {
namespace {

std::vector<uint8_t> from_hex(const std::string& hex) {
    std::vector<uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

// A fresh public point of `curve` (openssl's name), uncompressed.
std::vector<uint8_t> public_point(const std::string& curve, std::size_t size) {
    auto r =
        test::run_process({"sh", "-c",
                           "openssl ecparam -genkey -name " + curve +
                               " | openssl ec -pubout -outform DER 2>/dev/null | tail -c " +
                               std::to_string(1 + 2 * size) + " | od -An -tx1 | tr -d ' \\n'"});
    return from_hex(r.out);
}

TEST(KeyShare, ValidPointsPass) {
    EXPECT_EQ(invalid_key_share(23, public_point("prime256v1", 32)), "");
    EXPECT_EQ(invalid_key_share(24, public_point("secp384r1", 48)), "");
    EXPECT_EQ(invalid_key_share(25, public_point("secp521r1", 66)), "");
    std::vector<uint8_t> x25519(32, 0x42);
    EXPECT_EQ(invalid_key_share(29, x25519), "");
    EXPECT_EQ(invalid_key_share(0x1234, {}), "");  // a group tlsterm does not check
}

TEST(KeyShare, InvalidPointsAreNamed) {
    auto p256 = public_point("prime256v1", 32);
    ASSERT_EQ(p256.size(), 65u);
    auto off = p256;
    off.back() ^= 1;
    EXPECT_EQ(invalid_key_share(23, off), "not on the curve");
    EXPECT_EQ(invalid_key_share(23, std::vector<uint8_t>(65, 0)),
              "not an uncompressed point of 65 bytes");
    EXPECT_EQ(invalid_key_share(23, std::vector<uint8_t>{0}),
              "not an uncompressed point of 65 bytes");  // the point at infinity
    auto compressed = std::vector<uint8_t>(p256.begin(), p256.begin() + 33);
    compressed[0] = 0x02;
    EXPECT_EQ(invalid_key_share(23, compressed), "not an uncompressed point of 65 bytes");
    EXPECT_EQ(invalid_key_share(23, std::vector<uint8_t>(p256.begin(), p256.end() - 1)),
              "not an uncompressed point of 65 bytes");
    // x = p (congruent to 0 but not below p).
    auto big = from_hex("04ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    big.resize(65, 0);
    EXPECT_EQ(invalid_key_share(23, big), "a coordinate is not below the field prime");
    auto p521 = public_point("secp521r1", 66);
    p521[70] ^= 0x10;
    EXPECT_EQ(invalid_key_share(25, p521), "not on the curve");

    EXPECT_EQ(invalid_key_share(29, std::vector<uint8_t>(32, 0)),
              "a point of small order (the shared secret would be zero)");
    std::vector<uint8_t> one(32, 0);
    one[0] = 1;
    one[31] = 0x80;  // the top bit is ignored (RFC 7748)
    EXPECT_EQ(invalid_key_share(29, one),
              "a point of small order (the shared secret would be zero)");
    EXPECT_EQ(invalid_key_share(29, std::vector<uint8_t>(31, 7)), "not 32 bytes");
}

}  // namespace
}  // namespace tlsterm::tls
