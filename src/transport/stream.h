// One TCP socket of a ring owner (a client connection's client or upstream
// side, a pooled upstream connection), driven through the shard's ring:
// its receive (armed, paused, ended), one send in flight from a buffer that
// stays put until it completes, the write shutdown, the reset, the last
// words and the close. Every socket call goes through the ring but the
// socket options (TCP_NODELAY, SO_LINGER).
//
// The record layer behind the stream (transport/records.h) fills what the
// stream sends: ciphertext from wolfSSL, the plain bytes themselves, or
// plaintext the kernel encrypts (kernel TLS, whose alerts go out as
// records of their own type). Received bytes go to the owner as they came
// (the ClientHello reader, a TLS session, a plain pipe, or plaintext the
// kernel decrypted, each receive then saying its record's type), since only
// the owner knows which.
//
// The owner dispatches its completions of the stream's three op kinds to
// on_recv / on_send / on_ready; the others the stream submits (shutdown,
// cancel, close) complete as op::socket_end, which owners ignore.
//
// Kernel records make the socket non-blocking and its receives
// edge-triggered: a multishot poll (the `ready` op) says when the socket
// woke, and a receive goes when it did since the last one went out, again
// at once after one brought bytes, and after -EAGAIN not before the next
// wakeup. Linux 6.1 reports a kTLS socket readable as soon as TCP holds
// bytes, half a record included, but wakes it only once the record is
// whole: a receive armed on half a record would otherwise end in an io-wq
// worker waiting for the rest (a blocking socket), or spin (a non-blocking
// one). Closing is two
// steps: close() (last words, cancel), then release() once the owner has
// nothing in flight (the close itself).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/buffer_ring.h"
#include "runtime/services.h"
#include "runtime/slot_table.h"
#include "transport/records.h"

namespace tlsterm::transport {

class stream {
  public:
    // What a receive completion carried.
    struct received {
        enum class what : uint8_t { nothing, bytes, end, error };
        what kind = what::nothing;
        runtime::buffer_handle buffer;  // bytes: the data, until destroyed
        int error = 0;                  // kind == error: -errno
        // Kernel records: the type of the record the bytes are (application
        // data, or an alert or handshake message whole).
        uint8_t record_type = 23;
    };
    // What a send completion meant.
    struct sent {
        int error = 0;      // the send failed: -errno
        bool done = false;  // everything handed to the socket; nothing in flight
    };

    stream(runtime::ring_owner& owner, runtime::services& rt, runtime::op recv, runtime::op send,
           runtime::op ready)
        : _owner(owner), _rt(rt), _recv_op(recv), _send_op(send), _ready_op(ready) {}
    ~stream();
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    // Takes `fd` (a connected or connecting socket); TCP_NODELAY on.
    void attach(int fd);
    // Closes a socket whose connect failed (nothing else was submitted on
    // it), so that another may be attached.
    void discard();
    int fd() const { return _fd; }
    bool attached() const { return _fd >= 0; }
    // Makes the socket non-blocking (kernel records, a splice from or to
    // it); false with errno set when it cannot.
    bool make_nonblocking();
    // The record layer; a kernel one (record_layer::kernel()) makes every
    // receive from then on a recvmsg that says the record's type, and the
    // receives edge-triggered (the socket non-blocking).
    void set_records(record_layer* r);
    record_layer* records() const { return _records; }

    // ---- receiving
    // Arms a receive into the shard's provided buffers (multishot where the
    // kernel has it) unless one is armed, receiving is paused or ended.
    void arm();
    // Backpressure: stop (cancelling the armed receive) and go on.
    void pause();
    void resume();
    bool paused() const { return _rx.paused; }
    // A receive is submitted and its last completion has not come.
    bool receive_armed() const { return _rx.armed; }
    // One receive of at most `n` bytes, even while paused: the rest of a
    // record read exactly, so that nothing past it leaves the socket.
    void arm_exactly(std::size_t n);
    // Someone else reads the socket from now on (a splice): the armed
    // receive is cancelled (what it still brings comes as usual) and
    // arm() does nothing; arm_exactly() still reads one record the splice
    // cannot.
    void hand_over_receive();
    bool receive_handed_over() const { return _rx.handed; }
    // No more input is wanted (the peer's stream ended above the socket):
    // never re-armed.
    void stop_receiving();
    bool receiving_stopped() const { return _rx.done; }
    // The socket's read side ended (FIN) or failed.
    bool input_ended() const { return _rx.ended; }
    // A completion of the receive op. The owner re-arms with arm() after
    // handling it (a no-op while a multishot receive still runs).
    received on_recv(int res, uint32_t flags);
    // A completion of the ready op (kernel records: the socket woke); the
    // owner then arms.
    void on_ready(int res, uint32_t flags);

    // ---- sending
    // Sends what the record layer queued, when no send is in flight.
    void flush();
    // A completion of the send op: a partial send goes on by itself.
    sent on_send(int res);
    bool sending() const { return _tx.in_flight; }
    // Bytes toward the socket that the stream does not send (a splice into
    // it) are on their way: while `busy`, nothing of the stream's goes out
    // (no send, no end of the stream, no last words) lest it land among
    // them.
    void spliced_send(bool busy);
    // Bytes queued by the record layer plus those of the send in flight.
    std::size_t backlog() const;
    // Of them, the send in flight's not yet sent.
    std::size_t in_flight_bytes() const { return _tx.buffer.size() - _tx.offset; }
    // Ends this direction: the record layer's end (a TLS close_notify)
    // after everything queued, then the write side (FIN) once all is sent.
    void end_write();
    bool write_shut() const { return _tx.end == write_end::shut; }

    // ---- ending
    // The close sends a reset (SO_LINGER {1, 0}) instead of a FIN.
    void reset_on_close();
    // The record layer's last words, when no send is in flight and the
    // write side is open (best effort, never waited for), then cancels
    // everything on the socket. `clean`: the owner ends normally (a TLS
    // stream then ends with close_notify).
    void close(bool clean);
    // Before any record layer: `bytes` (an alert) instead of last words.
    void close_with(std::span<const uint8_t> bytes);
    bool closing() const { return _closing; }
    // Once the owner has nothing in flight any more: closes the socket
    // through the ring; false when there is nothing to close. Only then:
    // some ops resolve the descriptor when they run (a shutdown runs in an
    // io-wq worker), so its number must stay this socket's until every op
    // on it has completed.
    bool release();

  private:
    void submit_recv(bool multishot, std::size_t len);
    void cancel_recv();
    void cancel_poll();
    void submit_send(std::size_t from, unsigned flags);
    void submit_control(const record_layer::control_record& c, unsigned flags);
    uint8_t record_type() const;
    void shutdown_now();

    runtime::ring_owner& _owner;
    runtime::services& _rt;
    runtime::op _recv_op;
    runtime::op _send_op;
    runtime::op _ready_op;
    record_layer* _records = nullptr;
    int _fd = -1;
    bool _closing = false;
    bool _reset = false;

    struct receive_state {
        bool armed = false;   // a receive is submitted and may complete
        bool paused = false;  // backpressure
        bool ended = false;   // FIN or an error: never re-armed
        bool done = false;    // the owner wants no more
        bool handed = false;  // a splice reads the socket
        // Kernel records: the multishot poll is armed; a wakeup came since
        // the last receive went out.
        bool polling = false;
        bool readable = false;
    } _rx;
    // The write side: open; ending (end_write called: the FIN once
    // everything queued is sent); shut (the FIN submitted).
    enum class write_end : uint8_t { open, ending, shut };
    struct send_state {
        std::vector<uint8_t> buffer;  // the send in flight's bytes
        std::size_t offset = 0;       // of them, already sent
        bool in_flight = false;
        bool spliced = false;  // a splice into the socket has bytes on their way
        bool control = false;  // the send in flight is a control record (kernel records)
        write_end end = write_end::open;
    } _tx;

    // Kernel records: the message headers of the receive, which stay put
    // until its completion, and of a control record's send (made on the
    // first one: an idle connection sends none).
    struct kernel_rx {
        msghdr msg{};
        iovec iov{};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(uint8_t))> control{};
    };
    struct kernel_tx {
        msghdr msg{};
        iovec iov{};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(uint8_t))> control{};
        std::array<uint8_t, 2> body{};
    };
    std::unique_ptr<kernel_rx> _kernel;
    std::unique_ptr<kernel_tx> _kernel_tx;
};

}  // namespace tlsterm::transport
