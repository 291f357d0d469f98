#include "common/byte_queue.h"

#include <gtest/gtest.h>

#include <numeric>

namespace tlsterm {
namespace {

std::vector<uint8_t> iota_bytes(std::size_t n, uint8_t start = 0) {
    std::vector<uint8_t> v(n);
    std::iota(v.begin(), v.end(), start);
    return v;
}

TEST(ByteQueue, FifoAcrossAppendsAndReads) {
    byte_queue q;
    q.append(iota_bytes(10));
    q.append(iota_bytes(5, 100));
    EXPECT_EQ(q.size(), 15u);
    std::vector<uint8_t> out(12);
    EXPECT_EQ(q.read_into(out), 12u);
    EXPECT_EQ(out[9], 9);
    EXPECT_EQ(out[10], 100);
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.readable()[0], 102);
}

TEST(ByteQueue, ReleasesMemoryWhenDrained) {
    byte_queue q;
    q.append(iota_bytes(1 << 20));
    q.consume(1 << 20);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.capacity(), 0u);  // an idle connection keeps nothing
}

TEST(ByteQueue, CompactsInsteadOfGrowingForever) {
    byte_queue q;
    // A steady producer/consumer: capacity stays bounded by the backlog.
    for (int i = 0; i < 1000; ++i) {
        q.append(iota_bytes(1000));
        q.consume(q.size() > 1500 ? 1000 : 0);
    }
    EXPECT_LE(q.size(), 2500u);
    EXPECT_LT(q.capacity(), 16u * 1024);
}

TEST(ByteQueue, MoveIntoHandsOverContents) {
    byte_queue q;
    q.append(iota_bytes(100));
    std::vector<uint8_t> out;
    q.move_into(out);
    EXPECT_EQ(out.size(), 100u);
    EXPECT_TRUE(q.empty());
    q.append(iota_bytes(100));
    q.consume(40);
    q.move_into(out);
    ASSERT_EQ(out.size(), 60u);
    EXPECT_EQ(out[0], 40);
}

}  // namespace
}  // namespace tlsterm
