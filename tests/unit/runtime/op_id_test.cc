#include "runtime/op_id.h"

#include <gtest/gtest.h>

namespace tlsterm::runtime {
namespace {

TEST(OpId, RoundTrips) {
    for (op_id id :
         {op_id{0, 1, 0}, op_id{0xffff'ffff, generation_mask, 0xff}, op_id{12345, 678, 9}}) {
        EXPECT_EQ(op_id::decode(id.encode()), id);
    }
}

TEST(OpId, FieldsDoNotOverlap) {
    EXPECT_EQ(op_id({0xffff'ffff, 0, 0}).encode(), 0x0000'0000'ffff'ffffull);
    EXPECT_EQ(op_id({0, generation_mask, 0}).encode(), 0x00ff'ffff'0000'0000ull);
    EXPECT_EQ(op_id({0, 0, 0xff}).encode(), 0xff00'0000'0000'0000ull);
}

TEST(OpId, GenerationIsTruncatedTo24Bits) {
    op_id id{7, 0x0100'0002, 3};
    EXPECT_EQ(op_id::decode(id.encode()).generation, 2u);
}

TEST(OpId, NextGenerationWrapsAndSkipsZero) {
    EXPECT_EQ(next_generation(1), 2u);
    EXPECT_EQ(next_generation(generation_mask - 1), generation_mask);
    EXPECT_EQ(next_generation(generation_mask), 1u);
    EXPECT_EQ(next_generation(0), 1u);
}

// A stale completion (old generation) never matches the slot's new id.
TEST(OpId, StaleCompletionDiffers) {
    op_id old{42, 9, 1};
    op_id fresh{42, next_generation(9), 1};
    EXPECT_NE(old.encode(), fresh.encode());
    EXPECT_EQ(op_id::decode(old.encode()).slot, op_id::decode(fresh.encode()).slot);
}

}  // namespace
}  // namespace tlsterm::runtime
