#include "x509/der.h"

#include <gtest/gtest.h>

#include <vector>

namespace tlsterm::der {
namespace {

std::span<const uint8_t> bytes(const std::vector<uint8_t>& v) {
    return v;
}

TEST(Der, ReadsShortAndLongLengths) {
    std::vector<uint8_t> data = {0x02, 0x01, 0x05, 0x04, 0x81, 0x80};
    data.resize(data.size() + 0x80, 0xaa);
    reader r(bytes(data));
    auto i = r.next_if(tag_integer);
    ASSERT_TRUE(i);
    ASSERT_EQ(i->content.size(), 1u);
    EXPECT_EQ(i->content[0], 5);
    auto o = r.next();
    ASSERT_TRUE(o);
    EXPECT_EQ(o->tag, tag_octet_string);
    EXPECT_EQ(o->content.size(), 0x80u);
    EXPECT_EQ(o->whole.size(), 0x83u);
    EXPECT_TRUE(r.empty());
}

TEST(Der, RejectsTruncatedAndNonMinimal) {
    std::vector<uint8_t> truncated = {0x30, 0x05, 0x02, 0x01};
    EXPECT_FALSE(reader(bytes(truncated)).next());
    std::vector<uint8_t> indefinite = {0x30, 0x80, 0x00, 0x00};
    EXPECT_FALSE(reader(bytes(indefinite)).next());
    std::vector<uint8_t> long_form_small = {0x04, 0x81, 0x01, 0xff};
    EXPECT_FALSE(reader(bytes(long_form_small)).next());
    std::vector<uint8_t> leading_zero = {0x04, 0x82, 0x00, 0x81};
    EXPECT_FALSE(reader(bytes(leading_zero)).next());
    std::vector<uint8_t> huge = {0x04, 0x84, 0x7f, 0xff, 0xff, 0xff};
    EXPECT_FALSE(reader(bytes(huge)).next());
}

TEST(Der, NextIfLeavesOtherTags) {
    std::vector<uint8_t> data = {0x02, 0x01, 0x01};
    reader r(bytes(data));
    EXPECT_FALSE(r.next_if(tag_sequence));
    EXPECT_TRUE(r.next_if(tag_integer));
}

element time_element(uint8_t tag, std::string_view text, std::vector<uint8_t>& storage) {
    storage.assign(text.begin(), text.end());
    element e;
    e.tag = tag;
    e.content = storage;
    return e;
}

TEST(Der, ParsesUtcAndGeneralizedTime) {
    std::vector<uint8_t> s;
    EXPECT_EQ(parse_time(time_element(tag_utc_time, "700101000000Z", s)), 0);
    EXPECT_EQ(parse_time(time_element(tag_utc_time, "491231235959Z", s)), 2524607999);
    EXPECT_EQ(parse_time(time_element(tag_utc_time, "500101000000Z", s)), -631152000);
    EXPECT_EQ(parse_time(time_element(tag_generalized_time, "20261123084523Z", s)), 1795423523);
    EXPECT_EQ(parse_time(time_element(tag_generalized_time, "20000229120000Z", s)), 951825600);
}

TEST(Der, RejectsMalformedTime) {
    std::vector<uint8_t> s;
    EXPECT_FALSE(parse_time(time_element(tag_utc_time, "7001010000Z", s)));
    EXPECT_FALSE(parse_time(time_element(tag_utc_time, "700101000000+", s)));
    EXPECT_FALSE(parse_time(time_element(tag_utc_time, "701301000000Z", s)));
    EXPECT_FALSE(parse_time(time_element(tag_utc_time, "70010100a000Z", s)));
    EXPECT_FALSE(parse_time(time_element(tag_generalized_time, "700101000000Z", s)));
    EXPECT_FALSE(parse_time(time_element(tag_integer, "700101000000Z", s)));
}

}  // namespace
}  // namespace tlsterm::der
