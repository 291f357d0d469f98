// One io_uring instance, owned by one shard thread.
//
// Invariants:
//  - create() runs on the thread that will submit (IORING_SETUP_SINGLE_ISSUER
//    binds the ring to it); every later call comes from that thread.
//  - sqe() never returns null: when the submission queue is full it submits
//    what is queued and takes a fresh entry.
//  - Completions are handed out by user_data (see op_id.h); the ring never
//    interprets them.
//  - A scripted ring (scripted()) has no kernel side: what is submitted to
//    it stays in entries() for a test to read and answer by hand
//    (tests/unit/harness), one thread, no syscalls, no timing.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace tlsterm::runtime {

// What this kernel supports, probed once at setup.
struct features {
    bool single_issuer = false;     // 6.0: kernel skips cross-thread synchronisation
    bool defer_taskrun = false;     // 6.1: completion work runs only when we wait
    bool coop_taskrun = false;      // 5.19: no IPI to interrupt us for task work
    bool multishot_accept = false;  // 5.19: one SQE accepts until cancelled
    bool multishot_recv = false;    // 6.0: one SQE receives until cancelled
    bool send_zc = false;           // 6.0: zero-copy send for large bodies
};

class uring {
  public:
    // `entries`: submission queue size (completion queue is 4x, so multishot
    // operations rarely overflow it). `minimal`: use only what the oldest
    // supported kernels offer (no setup flags, single-shot accept and recv),
    // to exercise and diagnose the fallback paths on a new kernel.
    static std::expected<std::unique_ptr<uring>, std::string> create(unsigned entries,
                                                                     bool minimal = false);
    // A ring that submits nothing and completes nothing, claiming `f`.
    static std::unique_ptr<uring> scripted(const features& f);
    ~uring();
    uring(const uring&) = delete;
    uring& operator=(const uring&) = delete;

    const features& supported() const { return _features; }
    // One line per setup decision ("using DEFER_TASKRUN", "no SEND_ZC: ...").
    const std::vector<std::string>& setup_notes() const { return _notes; }

    io_uring_sqe* sqe();
    // Makes room for `n` consecutive entries (a linked pair must not be
    // split by a submission).
    void reserve(unsigned n);
    // Submits queued entries; waits for at least `wait_nr` completions.
    // Returns a negative errno on failure (-EINTR is retried).
    int submit_and_wait(unsigned wait_nr);

    // Calls on_cqe(user_data, res, flags) for every completion ready now and
    // marks them seen. Returns how many.
    template <typename F>
    unsigned drain(F&& on_cqe) {
        if (_scripted) {
            return 0;
        }
        unsigned head;
        unsigned count = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&_ring, head, cqe) {
            on_cqe(cqe->user_data, cqe->res, cqe->flags);
            ++count;
        }
        io_uring_cq_advance(&_ring, count);
        return count;
    }

    io_uring* raw() { return &_ring; }

    // A scripted ring's submissions, oldest first (the test removes those
    // it has read).
    std::deque<io_uring_sqe>& entries() { return _entries; }

  private:
    uring() = default;

    io_uring _ring{};
    features _features;
    std::vector<std::string> _notes;
    bool _scripted = false;
    std::deque<io_uring_sqe> _entries;  // scripted: stable addresses, front removed
};

}  // namespace tlsterm::runtime
