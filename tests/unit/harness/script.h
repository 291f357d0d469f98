// A shard with the test in the kernel's place: a scripted ring (nothing is
// submitted; every SQE waits in a list for the test), a scripted buffer
// ring, the slot table, the deferred queue and the counters. The test reads
// what the code under test asked for and answers it with the completion it
// chooses (data, EOF, a reset, -ECANCELED, -ENOBUFS, a short send, a
// timeout), delivered exactly as the shard delivers one: to the owner its
// user_data names, then the slot freed when the owner is finished, then the
// deferred queue run. One thread, no processes, no sleeps, no clock but
// `rt.now_ms`.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tlsterm/counters.h>

#include "runtime/buffer_ring.h"
#include "runtime/deferred.h"
#include "runtime/op_id.h"
#include "runtime/ring.h"
#include "runtime/services.h"
#include "runtime/slot_table.h"

namespace tlsterm::test {

// One SQE as submitted (a copy; a send's bytes are read from the caller's
// buffer when asked, so a buffer that moved before its completion shows).
struct submission {
    uint8_t opcode = 0;
    uint8_t flags = 0;      // IOSQE_*
    uint16_t ioprio = 0;    // IORING_RECV_MULTISHOT
    int fd = -1;            // a splice's destination
    int splice_fd_in = -1;  // a splice's source
    uint64_t addr = 0;      // a send's bytes; a cancel's user_data
    uint32_t len = 0;       // a send's length; a shutdown's how; a splice's most bytes
    uint32_t op_flags = 0;  // a send's MSG_*, a cancel's IORING_ASYNC_CANCEL_*
    uint64_t user_data = 0;
    runtime::op_id id;

    static submission of(const io_uring_sqe& sqe);
    runtime::op op() const { return static_cast<runtime::op>(id.op); }
    bool multishot() const { return (ioprio & IORING_RECV_MULTISHOT) != 0; }
    // A send's bytes (a sendmsg's, from its iovecs).
    std::string bytes() const;
    // The TLS record type a sendmsg gives its bytes (kernel TLS's
    // TLS_SET_RECORD_TYPE control message); 0 for plain data.
    uint8_t record_type() const;
};

class script {
  public:
    // Features the ring claims: multishot receives (kernel 6.0 on), or the
    // single-shot fallback of older kernels.
    static runtime::features multishot();
    static runtime::features single_shot();

    explicit script(const runtime::features& f = multishot(), uint16_t buffers = 64,
                    uint32_t buffer_size = 4096);
    ~script();
    script(const script&) = delete;
    script& operator=(const script&) = delete;

    // What was submitted and has not completed, oldest first.
    const std::vector<submission>& pending();
    // Those of `owner` with op `kind`.
    std::vector<submission> find(const runtime::ring_owner& owner, runtime::op kind);
    bool has(const runtime::ring_owner& owner, runtime::op kind) {
        return !find(owner, kind).empty();
    }
    // The one pending submission of `owner` with op `kind` (a test failure
    // when there is none or more than one).
    std::optional<submission> one(const runtime::ring_owner& owner, runtime::op kind);

    // Completes `s` as the kernel and the shard would. `flags` with
    // IORING_CQE_F_MORE keeps a multishot pending.
    void complete(const submission& s, int res, uint32_t flags = 0);
    // The pending receive of `owner` (op `kind`) completes with `bytes`
    // in a provided buffer; false when none is armed.
    bool receive(const runtime::ring_owner& owner, runtime::op kind, std::string_view bytes);
    // The pending recvmsg of `owner` (kernel TLS records) completes with
    // one record of `type` (its control message says so) holding `bytes`.
    bool receive_record(const runtime::ring_owner& owner, runtime::op kind, uint8_t type,
                        std::string_view bytes);
    // ... with `res` (0: EOF, a negative errno), no buffer.
    bool receive_end(const runtime::ring_owner& owner, runtime::op kind, int res);
    // The pending send of `owner` (op `kind`) completes having sent `n` of
    // its bytes (all when unset); returns those bytes ("" when no send was
    // pending).
    std::string send(const runtime::ring_owner& owner, runtime::op kind,
                     std::optional<std::size_t> n = std::nullopt);
    // The pending splice of `owner` (op `kind`) runs: the poll linked
    // before it, if any, completes (its socket ready), then the splice with
    // `res` (bytes moved, 0 for the source's end, a negative errno).
    // Returns the splice as submitted (nullopt, a test failure, when none
    // is pending).
    std::optional<submission> splice(const runtime::ring_owner& owner, runtime::op kind, int res);
    // The pending multishot poll of `owner` (op `kind`) reports its socket
    // readable and goes on; false when none is pending.
    bool readable(const runtime::ring_owner& owner, runtime::op kind);
    // Completes every pending send of `owner` (op `kind`) in full, and the
    // sends that follow them, until none is pending; returns the bytes.
    std::string send_all(const runtime::ring_owner& owner, runtime::op kind);
    // The connect of `owner` completes with `res`; its linked timeout is
    // cancelled (res != -ETIME) or fires first (the connect then -ECANCELED).
    void connect(const runtime::ring_owner& owner, int res);
    // Completes every pending shutdown, cancel (and what it cancels) and
    // close (the descriptor is closed), until none is left.
    void settle();

    // Descriptors this process has open (/proc/self/fd).
    static std::size_t open_descriptors();
    // Everything was given back: no owner in the slot table, nothing
    // pending, every provided buffer returned, and `descriptors` open (the
    // count before the test). Test failures say what was not.
    void expect_all_returned(std::size_t descriptors);

    std::unique_ptr<runtime::uring> ring;
    std::unique_ptr<runtime::buffer_ring> buffers;
    shard_counters counters;
    runtime::slot_table slots;
    runtime::deferred_queue later;
    runtime::services rt;

  private:
    void collect();
    void remove(const submission& s);

    std::vector<submission> _pending;
};

}  // namespace tlsterm::test
