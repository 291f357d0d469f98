// The ring on a real kernel: socketpairs, multishot recv into a provided
// buffer ring, buffer recycling.
#include "runtime/ring.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/buffer_ring.h"
#include "runtime/op_id.h"

namespace tlsterm::runtime {
namespace {

struct socket_pair {
    int fds[2] = {-1, -1};
    socket_pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
    ~socket_pair() {
        for (int fd : fds) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
};

struct completion {
    op_id id;
    int res;
    uint32_t flags;
};

std::vector<completion> wait_for(uring& r, unsigned n) {
    std::vector<completion> out;
    while (out.size() < n) {
        EXPECT_GE(r.submit_and_wait(1), 0);
        r.drain([&](uint64_t ud, int res, uint32_t flags) {
            out.push_back({op_id::decode(ud), res, flags});
        });
    }
    return out;
}

TEST(Ring, SetsUpAndReportsFeatures) {
    auto r = uring::create(64);
    ASSERT_TRUE(r) << r.error();
    EXPECT_FALSE((*r)->setup_notes().empty());
    // The supported floor is 6.1, where all of these exist.
    EXPECT_TRUE((*r)->supported().single_issuer);
    EXPECT_TRUE((*r)->supported().multishot_accept);
    EXPECT_TRUE((*r)->supported().multishot_recv);
}

TEST(Ring, CompletionsCarryUserData) {
    auto r = uring::create(8);
    ASSERT_TRUE(r) << r.error();
    // More NOPs than the queue holds: sqe() must flush instead of failing.
    for (uint32_t i = 0; i < 20; ++i) {
        io_uring_sqe* s = (*r)->sqe();
        ASSERT_NE(s, nullptr);
        io_uring_prep_nop(s);
        io_uring_sqe_set_data64(s, op_id{i, 5, 2}.encode());
    }
    auto done = wait_for(**r, 20);
    std::vector<bool> seen(20);
    for (const auto& c : done) {
        EXPECT_EQ(c.res, 0);
        EXPECT_EQ(c.id.generation, 5u);
        EXPECT_EQ(c.id.op, 2);
        ASSERT_LT(c.id.slot, 20u);
        seen[c.id.slot] = true;
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 20);
}

TEST(Ring, MultishotRecvUsesProvidedBuffers) {
    auto r = uring::create(16);
    ASSERT_TRUE(r) << r.error();
    auto buffers = buffer_ring::create((*r)->raw(), 1, 4, 64);
    ASSERT_TRUE(buffers) << buffers.error();
    buffer_ring& br = **buffers;
    EXPECT_EQ(br.available(), 4u);

    socket_pair sp;
    io_uring_sqe* s = (*r)->sqe();
    io_uring_prep_recv_multishot(s, sp.fds[0], nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = br.group();
    io_uring_sqe_set_data64(s, op_id{3, 1, 7}.encode());
    ASSERT_GE((*r)->submit_and_wait(0), 0);

    std::string received;
    for (std::string msg : {"hello ", "multishot ", "world"}) {
        ASSERT_EQ(::write(sp.fds[1], msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
        auto c = wait_for(**r, 1);
        ASSERT_EQ(c.size(), 1u);
        ASSERT_EQ(c[0].id, (op_id{3, 1, 7}));
        ASSERT_GT(c[0].res, 0);
        ASSERT_TRUE(c[0].flags & IORING_CQE_F_BUFFER);
        EXPECT_TRUE(c[0].flags & IORING_CQE_F_MORE);  // still armed
        br.taken();
        auto id = static_cast<uint16_t>(c[0].flags >> IORING_CQE_BUFFER_SHIFT);
        buffer_handle h(&br, id, static_cast<uint32_t>(c[0].res));
        received.append(reinterpret_cast<const char*>(h.bytes().data()), h.bytes().size());
        EXPECT_EQ(br.available(), 3u);
    }  // each handle returned its buffer
    EXPECT_EQ(received, "hello multishot world");
    EXPECT_EQ(br.available(), 4u);

    // EOF ends the multishot: no F_MORE, result 0.
    ::close(sp.fds[1]);
    sp.fds[1] = -1;
    auto c = wait_for(**r, 1);
    EXPECT_EQ(c[0].res, 0);
    EXPECT_FALSE(c[0].flags & IORING_CQE_F_MORE);
}

TEST(Ring, ExhaustedBufferRingEndsRecvWithEnobufs) {
    auto r = uring::create(16);
    ASSERT_TRUE(r) << r.error();
    auto buffers = buffer_ring::create((*r)->raw(), 2, 1, 16);
    ASSERT_TRUE(buffers) << buffers.error();
    buffer_ring& br = **buffers;

    socket_pair sp;
    io_uring_sqe* s = (*r)->sqe();
    io_uring_prep_recv_multishot(s, sp.fds[0], nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = br.group();
    io_uring_sqe_set_data64(s, 1);
    ASSERT_GE((*r)->submit_and_wait(0), 0);

    ASSERT_EQ(::write(sp.fds[1], "first", 5), 5);
    auto c = wait_for(**r, 1);
    ASSERT_EQ(c[0].res, 5);
    br.taken();
    // Hold the only buffer: the next data finds none, and the recv ends with
    // -ENOBUFS (the shard re-arms it once buffers are back).
    buffer_handle held(&br, static_cast<uint16_t>(c[0].flags >> IORING_CQE_BUFFER_SHIFT), 5);
    ASSERT_EQ(::write(sp.fds[1], "second", 6), 6);
    c = wait_for(**r, 1);
    EXPECT_EQ(c[0].res, -ENOBUFS);
    EXPECT_FALSE(c[0].flags & IORING_CQE_F_MORE);
    held.reset();
    EXPECT_EQ(br.available(), 1u);
}

TEST(BufferRing, RejectsBadSizes) {
    auto r = uring::create(4);
    ASSERT_TRUE(r) << r.error();
    EXPECT_FALSE(buffer_ring::create((*r)->raw(), 1, 3, 64));
    EXPECT_FALSE(buffer_ring::create((*r)->raw(), 1, 0, 64));
}

}  // namespace
}  // namespace tlsterm::runtime
