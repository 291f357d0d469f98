// One direction of a spliced byte pipe: socket -> pipe -> socket through
// io_uring SPLICE, the bytes never copied to userspace (tcp mode, once the
// client's records are in the kernel both ways: the kernel decrypts into
// the pipe and encrypts out of it).
//
// io_uring runs a splice in an io-wq worker, which would wait there for a
// slow peer. So both sockets are non-blocking and every splice is too: a
// worker only ever moves bytes that are there, and answers -EAGAIN where
// there are none.
//  - Filling waits on the source's readiness, edge-triggered: one
//    multishot poll (POLLIN) per direction completes once at once when
//    bytes are there and then on each wakeup. A fill goes when the poll
//    said so since the last one was submitted, goes again at once after
//    it moved bytes (more may wait, and their wakeup has been heard), and
//    after -EAGAIN waits for the next wakeup. A level-triggered poll would
//    spin on a kernel-TLS socket holding half a record: Linux 6.1 reports
//    it readable as soon as TCP holds bytes, but wakes it only once the
//    whole record is in.
//  - Draining is linked (IOSQE_IO_LINK) behind a one-shot poll (POLLOUT)
//    of the destination, which completes as op::socket_end (ignored: the
//    splice completes -ECANCELED when its poll failed).
// The pipe is the backpressure: a fill asks for at most the room left in
// it, and one that finds its slots taken (-EAGAIN with bytes in it) goes
// again after the next drain. A fill and a drain may be in flight at once.
// Closing the sockets cancels everything (the polls are on them, and a
// splice linked behind a cancelled poll is cancelled with it); the pipe
// closes with this object, once the owner has nothing in flight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>

#include "common/unique_fd.h"
#include "runtime/slot_table.h"

namespace tlsterm::transport {

struct splice_pipe {
    unique_fd read;
    unique_fd write;
    std::size_t capacity = 0;  // bytes
};

// A pipe for a splice, of the size pipes have by default (64 KiB). The
// error names why there is none: out of descriptors, or the kernel would
// give only a reduced one (fs.pipe-user-pages-soft reached by this user).
std::expected<splice_pipe, std::string> open_splice_pipe();
using splice_pipe_maker = std::function<std::expected<splice_pipe, std::string>()>;

class splice_direction {
  public:
    // From socket `from` to socket `to` through `pipe`, submitting through
    // `owner` as op `ready` (the source's poll), `fill` (socket -> pipe) and
    // `drain` (pipe -> socket).
    splice_direction(runtime::ring_owner& owner, runtime::op ready, runtime::op fill,
                     runtime::op drain, splice_pipe pipe, int from, int to);
    splice_direction(const splice_direction&) = delete;
    splice_direction& operator=(const splice_direction&) = delete;

    // Submits what can go now: a drain while the pipe holds bytes; when
    // `may_fill` (no bytes of the direction go the userspace way), the
    // source's poll, and a fill once it is readable while the pipe has
    // room, the source has not ended and nothing holds it back (a record
    // that is not data).
    void pump(bool may_fill);

    // A completion of the source's poll (`flags`: IORING_CQE_F_MORE while
    // it goes on).
    void on_ready(int res, uint32_t flags);

    // What a fill's completion meant.
    struct filled {
        enum class what : uint8_t {
            nothing,  // none moved: polled again, or waits for a drain
            bytes,    // `bytes` went into the pipe
            end,      // the source's FIN
            record,   // the source's next record is not data (kernel TLS: an
                      // alert, a KeyUpdate): its owner reads it, then
                      // resume_fill()
            error,    // `error` (-errno): the source failed
        };
        what kind = what::nothing;
        std::size_t bytes = 0;
        int error = 0;
    };
    filled on_fill(int res);
    // What a drain's completion meant: `bytes` went to the destination, or
    // it failed (`error`, -errno).
    struct drained {
        std::size_t bytes = 0;
        int error = 0;
    };
    drained on_drain(int res);

    // After a filled::record was read some other way.
    void resume_fill();
    bool at_record() const { return _at_record; }
    // Closing: nothing more is submitted, and a fill in flight (its file
    // is the pipe's, which the sockets' cancels do not reach) is
    // cancelled.
    void stop();

    // Bytes are in the pipe or on their way out of it.
    bool holds_bytes() const { return _in_pipe != 0 || _draining; }
    // The source ended (FIN) and everything it sent is out of the pipe.
    bool finished() const { return _source_ended && _in_pipe == 0 && !_draining; }

  private:
    void submit(bool fill);

    runtime::ring_owner& _owner;
    runtime::op _ready_op;
    runtime::op _fill_op;
    runtime::op _drain_op;
    splice_pipe _pipe;
    int _from;
    int _to;
    std::size_t _in_pipe = 0;
    bool _polling = false;   // the source's multishot poll is armed
    bool _readable = false;  // a wakeup since the last fill went out
    bool _filling = false;
    bool _draining = false;
    bool _source_ended = false;
    bool _at_record = false;  // waits for resume_fill()
    bool _pipe_full = false;  // a fill found no slot: goes again after a drain
    bool _stopped = false;
};

}  // namespace tlsterm::transport
