#include "crl/serial_set.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "crl/crl_file.h"
#include "support/pki.h"

namespace tlsterm::crl {
namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> v) {
    std::vector<uint8_t> out;
    for (int b : v) {
        out.push_back(static_cast<uint8_t>(b));
    }
    return out;
}

std::vector<uint8_t> from_hex(const std::string& hex) {
    std::vector<uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

TEST(SerialSet, EmptySetContainsNothing) {
    serial_set s;
    EXPECT_FALSE(s.contains(bytes({1})));
    auto built = serial_set::builder().build();
    EXPECT_EQ(built.size(), 0u);
    EXPECT_FALSE(built.contains(bytes({1})));
}

TEST(SerialSet, SignPaddingDoesNotMatter) {
    serial_set::builder b;
    b.add(bytes({0x00, 0x8f, 0x01}));
    b.add(bytes({0x00}));  // serial zero
    auto s = std::move(b).build();
    EXPECT_TRUE(s.contains(bytes({0x8f, 0x01})));
    EXPECT_TRUE(s.contains(bytes({0x00, 0x8f, 0x01})));
    EXPECT_TRUE(s.contains(bytes({0x00})));
    EXPECT_FALSE(s.contains(bytes({0x8f})));
    EXPECT_FALSE(s.contains(bytes({0x8f, 0x01, 0x00})));
    EXPECT_EQ(s.size(), 2u);
}

TEST(SerialSet, DuplicatesCountOnce) {
    serial_set::builder b;
    for (int i = 0; i < 3; ++i) {
        b.add(bytes({0x12, 0x34}));
    }
    EXPECT_EQ(std::move(b).build().size(), 1u);
}

TEST(SerialSet, LongSerialsAreKeptNotDropped) {
    std::vector<uint8_t> long_serial(40, 0x7a);
    serial_set::builder b;
    b.add(long_serial);
    b.add(bytes({1}));
    auto s = std::move(b).build();
    EXPECT_TRUE(s.contains(long_serial));
    long_serial.back() = 0x7b;
    EXPECT_FALSE(s.contains(long_serial));
    EXPECT_EQ(s.size(), 2u);
}

TEST(SerialSet, ManyRandomSerials) {
    std::mt19937_64 rng(42);
    std::vector<std::vector<uint8_t>> in;
    serial_set::builder b(100000);
    for (int i = 0; i < 100000; ++i) {
        std::vector<uint8_t> serial(1 + rng() % 20);
        for (auto& x : serial) {
            x = static_cast<uint8_t>(rng());
        }
        serial[0] |= 1;  // never a leading zero, so each is distinct as given
        b.add(serial);
        in.push_back(std::move(serial));
    }
    auto s = std::move(b).build();
    for (const auto& serial : in) {
        ASSERT_TRUE(s.contains(serial));
    }
    int false_hits = 0;
    for (int i = 0; i < 100000; ++i) {
        std::vector<uint8_t> probe(21);
        for (auto& x : probe) {
            x = static_cast<uint8_t>(rng());
        }
        probe[0] |= 1;
        false_hits += s.contains(probe) ? 1 : 0;
    }
    EXPECT_EQ(false_hits, 0);
    // A 32-byte slot and a 2-byte tag per entry at 3/4 load.
    EXPECT_LE(s.memory_bytes(), std::size_t{100000} * 34 * 4 / 3 + 64);
}

// Built from real CRLs: every serial listed is found, others are not.
TEST(SerialSet, FromGeneratedCrls) {
    std::map<std::string, std::vector<uint8_t>> serials;
    std::ifstream f(test::pki("serials.txt"));
    std::string name;
    std::string hex;
    while (f >> name >> hex) {
        serials[name] = from_hex(hex);
    }
    serial_set::builder b;
    std::string der = test::read_text(test::pki("large.crl.der"));
    auto summary =
        inspect_crl_der(std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()),
                        [&](std::span<const uint8_t> serial, int) { b.add(serial); });
    ASSERT_TRUE(summary) << summary.error();
    auto s = std::move(b).build();
    EXPECT_EQ(s.size(), test::large_crl_entries() + 3);
    EXPECT_TRUE(s.contains(serials.at("client-revoked")));
    EXPECT_TRUE(s.contains(serials.at("revoked-intermediate-ca")));
    EXPECT_TRUE(s.contains(serials.at("client-delta-revoked")));
    EXPECT_FALSE(s.contains(serials.at("client-valid")));
    EXPECT_FALSE(s.contains(serials.at("client-expired")));
}

}  // namespace
}  // namespace tlsterm::crl
