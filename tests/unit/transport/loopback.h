// What the transport tests share: a connected pair of TCP sockets over
// loopback, and a real ring (with its provided buffers and the services a
// stream uses) whose completions a test runs until a condition holds.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <tlsterm/counters.h>

#include "runtime/buffer_ring.h"
#include "runtime/deferred.h"
#include "runtime/ring.h"
#include "runtime/services.h"
#include "runtime/slot_table.h"

namespace tlsterm::transport::test {

// A connected pair of TCP sockets on 127.0.0.1: `ours` for the code under
// test (which closes it), `peer` for the test.
struct tcp_pair {
    int ours = -1;
    int peer = -1;
    tcp_pair() {
        int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(::listen(l, 1), 0);
        EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
        ours = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(::connect(ours, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        peer = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        ::close(l);
    }
    ~tcp_pair() {
        if (peer >= 0) {
            ::close(peer);
        }
    }
    // What the peer reads within `ms` (until EOF, an error or the time).
    std::string peer_reads(int ms, int* error = nullptr, bool* eof = nullptr) const {
        std::string out;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            pollfd p{peer, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            char buf[4096];
            ssize_t n = ::recv(peer, buf, sizeof(buf), 0);
            if (n > 0) {
                out.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 && eof != nullptr) {
                *eof = true;
            }
            if (n < 0 && error != nullptr) {
                *error = errno;
            }
            break;
        }
        return out;
    }
};

// A fixture with a ring of 64 entries and 16 provided buffers of 4 KiB.
class ring_test : public ::testing::Test {
  protected:
    void SetUp() override {
        auto r = runtime::uring::create(64);
        ASSERT_TRUE(r) << r.error();
        ring = std::move(*r);
        auto b = runtime::buffer_ring::create(ring->raw(), 1, 16, 4096);
        ASSERT_TRUE(b) << b.error();
        buffers = std::move(*b);
        rt = std::make_unique<runtime::services>(
            runtime::services{*ring, *buffers, counters, slots, later, 0});
    }

    // Hands completions to `to` until `done` or `ms` pass; `between` runs
    // after each turn of the ring.
    bool run(runtime::ring_owner& to, const std::function<bool()>& done, int ms,
             const std::function<void()>& between = {}) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!done() && std::chrono::steady_clock::now() < end) {
            __kernel_timespec ts{0, 5'000'000};
            io_uring_cqe* cqe = nullptr;
            io_uring_submit_and_wait_timeout(ring->raw(), &cqe, 1, &ts, nullptr);
            ring->drain([&](uint64_t ud, int res, uint32_t flags) {
                auto id = runtime::op_id::decode(ud);
                to.on_completion(static_cast<runtime::op>(id.op), res, flags);
            });
            if (between) {
                between();
            }
        }
        return done();
    }

    std::unique_ptr<runtime::uring> ring;
    std::unique_ptr<runtime::buffer_ring> buffers;
    shard_counters counters;
    runtime::slot_table slots;
    runtime::deferred_queue later;
    std::unique_ptr<runtime::services> rt;
};

}  // namespace tlsterm::transport::test
