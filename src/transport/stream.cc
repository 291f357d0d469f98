#include "transport/stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#include <fcntl.h>
#include <poll.h>

#include <cerrno>

#include "transport/kernel_records.h"

namespace tlsterm::transport {

stream::~stream() {
    if (_fd >= 0) {
        ::close(_fd);  // never closed through the ring (the owner never closed)
    }
}

void stream::attach(int fd) {
    _fd = fd;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void stream::set_records(record_layer* r) {
    _records = r;
    if (r != nullptr && r->kernel() && !_kernel) {
        _kernel = std::make_unique<kernel_rx>();
        make_nonblocking();   // a worker never waits for a record
        _rx.readable = true;  // records may be queued already
    }
}

bool stream::make_nonblocking() {
    int flags = ::fcntl(_fd, F_GETFL);
    return flags >= 0 && ::fcntl(_fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void stream::discard() {
    if (_fd >= 0) {
        io_uring_prep_close(_owner.sqe(runtime::op::socket_end), _fd);
        _fd = -1;
    }
    _rx = receive_state{};
    _tx = send_state{};
}

// ---- receiving ----------------------------------------------------------------

void stream::arm() {
    if (_fd < 0 || _closing || _rx.armed || _rx.paused || _rx.ended || _rx.done || _rx.handed) {
        return;
    }
    if (!_kernel) {
        submit_recv(_rt.ring.supported().multishot_recv, _rt.buffers.buffer_size());
        return;
    }
    if (!_rx.polling) {
        io_uring_prep_poll_multishot(_owner.sqe(_ready_op), _fd, POLLIN);
        _rx.polling = true;
    }
    if (_rx.readable) {
        _rx.readable = false;  // a wakeup from now on says to go again
        submit_recv(false, _rt.buffers.buffer_size());
    }
}

void stream::on_ready(int res, uint32_t flags) {
    if ((flags & IORING_CQE_F_MORE) == 0) {
        _rx.polling = false;  // armed again by arm()
    }
    if (res != -ECANCELED && res != 0) {
        _rx.readable = true;  // a wakeup, or the poll's error: the receive says which
    }
}

void stream::cancel_poll() {
    if (_rx.polling && !_closing) {
        io_uring_prep_cancel64(_owner.sqe(runtime::op::socket_end), _owner.id(_ready_op), 0);
    }
}

void stream::stop_receiving() {
    _rx.done = true;
    cancel_poll();
}

void stream::arm_exactly(std::size_t n) {
    if (_fd < 0 || _closing || _rx.armed || _rx.ended || _rx.done || n == 0) {
        return;
    }
    submit_recv(false, std::min<std::size_t>(n, _rt.buffers.buffer_size()));
}

// Into the shard's provided buffers: multishot, or once for at most `len`.
// Kernel records: a recvmsg, whose control message says the record's type.
void stream::submit_recv(bool multishot, std::size_t len) {
    io_uring_sqe* s = _owner.sqe(_recv_op);
    if (_kernel) {
        kernel_rx& k = *_kernel;
        k.iov = iovec{nullptr, len};  // the buffer is the ring's; len bounds it
        k.msg = msghdr{};
        k.msg.msg_iov = &k.iov;
        k.msg.msg_iovlen = 1;
        k.msg.msg_control = k.control.data();
        k.msg.msg_controllen = k.control.size();
        io_uring_prep_recvmsg(s, _fd, &k.msg, 0);
    } else if (multishot) {
        io_uring_prep_recv_multishot(s, _fd, nullptr, 0, 0);
    } else {
        io_uring_prep_recv(s, _fd, nullptr, len, 0);
    }
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = _rt.buffers.group();
    _rx.armed = true;
}

void stream::cancel_recv() {
    if (_rx.armed && !_closing) {
        io_uring_prep_cancel64(_owner.sqe(runtime::op::socket_end), _owner.id(_recv_op), 0);
    }
}

void stream::hand_over_receive() {
    _rx.handed = true;
    cancel_recv();
    cancel_poll();  // the splice polls the socket itself
}

void stream::pause() {
    if (_rx.paused) {
        return;
    }
    _rx.paused = true;
    cancel_recv();
}

void stream::resume() {
    if (!_rx.paused) {
        return;
    }
    _rx.paused = false;
    arm();
}

stream::received stream::on_recv(int res, uint32_t flags) {
    received r;
    if ((flags & IORING_CQE_F_MORE) == 0) {
        _rx.armed = false;
    }
    if (res > 0) {
        // The buffer is the owner's until `r.buffer` goes: it copies the
        // bytes (into TLS, or toward the other side) before that.
        _rt.buffers.taken();
        r.buffer = runtime::buffer_handle(&_rt.buffers,
                                          static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                                          static_cast<uint32_t>(res));
        r.kind = received::what::bytes;
        if (_kernel) {
            r.record_type = record_type();
            _rx.readable = true;  // more may wait, their wakeup already heard
        }
    } else if (res == 0) {
        _rx.ended = true;
        r.kind = received::what::end;
        cancel_poll();
    } else if (res != -ENOBUFS && res != -ECANCELED && res != -EAGAIN) {
        // -ENOBUFS: the buffer ring ran dry for a moment (re-armed by the
        // owner); -ECANCELED: paused for backpressure, or closing;
        // -EAGAIN: a non-blocking socket (kernel records, spliced) with
        // nothing whole to read (io_uring tried it in a worker, which a
        // non-blocking socket answers so): kernel records wait for the
        // next wakeup, others are armed again.
        _rx.ended = true;
        r.kind = received::what::error;
        r.error = res;
        cancel_poll();
    } else if (_kernel && res != -EAGAIN) {
        _rx.readable = true;  // -ENOBUFS, -ECANCELED: what woke it may still be there
    }
    return r;
}

// The type of the record a kernel-records receive read (application data
// when the kernel said nothing).
uint8_t stream::record_type() const {
    const msghdr& m = _kernel->msg;
    for (const cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&m), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE &&
            c->cmsg_len >= CMSG_LEN(sizeof(uint8_t))) {
            return *CMSG_DATA(c);
        }
    }
    return record_application_data;
}

// ---- sending ------------------------------------------------------------------

void stream::submit_send(std::size_t from, unsigned flags) {
    io_uring_prep_send(_owner.sqe(_send_op), _fd, _tx.buffer.data() + from,
                       _tx.buffer.size() - from, static_cast<int>(MSG_NOSIGNAL | flags));
    _tx.in_flight = true;
}

void stream::spliced_send(bool busy) {
    _tx.spliced = busy;
    if (!busy) {
        flush();  // what waited for the splice: an end of the stream, an alert
    }
}

void stream::flush() {
    if (_fd < 0 || _closing || _tx.in_flight || _tx.spliced || _tx.end == write_end::shut ||
        _records == nullptr) {
        return;
    }
    byte_queue& q = _records->outgoing();
    if (q.empty()) {
        if (auto c = _records->take_control()) {
            submit_control(*c, 0);  // an alert of kernel records
        } else if (_tx.end == write_end::ending) {
            shutdown_now();
        }
        return;
    }
    q.move_into(_tx.buffer);
    _tx.offset = 0;
    submit_send(0, 0);
}

// One record of its own type (kernel records), from bytes that stay put.
void stream::submit_control(const record_layer::control_record& c, unsigned flags) {
    if (!_kernel_tx) {
        _kernel_tx = std::make_unique<kernel_tx>();
    }
    kernel_tx& k = *_kernel_tx;
    k.body = c.body;
    k.iov = iovec{k.body.data(), k.body.size()};
    k.msg = msghdr{};
    k.msg.msg_iov = &k.iov;
    k.msg.msg_iovlen = 1;
    k.msg.msg_control = k.control.data();
    k.msg.msg_controllen = k.control.size();
    cmsghdr* h = CMSG_FIRSTHDR(&k.msg);
    h->cmsg_level = SOL_TLS;
    h->cmsg_type = TLS_SET_RECORD_TYPE;
    h->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    *CMSG_DATA(h) = c.type;
    io_uring_prep_sendmsg(_owner.sqe(_send_op), _fd, &k.msg, MSG_NOSIGNAL | flags);
    std::vector<uint8_t>().swap(_tx.buffer);
    _tx.offset = 0;
    _tx.in_flight = true;
    _tx.control = true;
}

stream::sent stream::on_send(int res) {
    _tx.in_flight = false;
    sent r;
    if (_closing) {
        return r;
    }
    if (res == -EAGAIN) {
        // A non-blocking socket (spliced) full after its poll said it had
        // room: the same bytes again, behind a new poll.
        if (_tx.control) {
            io_uring_prep_sendmsg(_owner.sqe(_send_op), _fd, &_kernel_tx->msg, MSG_NOSIGNAL);
        } else {
            submit_send(_tx.offset, 0);
        }
        _tx.in_flight = true;
        return r;
    }
    _tx.control = false;
    if (res < 0) {
        r.error = res;
        return r;
    }
    _tx.offset += static_cast<std::size_t>(res);
    if (_tx.offset < _tx.buffer.size()) {
        submit_send(_tx.offset, 0);  // the rest of the same bytes
        return r;
    }
    std::vector<uint8_t>().swap(_tx.buffer);  // an idle stream keeps no send buffer
    _tx.offset = 0;
    r.done = true;
    return r;
}

std::size_t stream::backlog() const {
    std::size_t queued = _records != nullptr ? _records->outgoing().size() : 0;
    return queued + in_flight_bytes();
}

void stream::end_write() {
    if (_tx.end != write_end::open) {
        return;
    }
    if (_records != nullptr) {
        _records->end_output();  // close_notify over TLS; nothing for plain bytes
    }
    _tx.end = write_end::ending;
    flush();
}

void stream::shutdown_now() {
    _tx.end = write_end::shut;
    io_uring_prep_shutdown(_owner.sqe(runtime::op::socket_end), _fd, SHUT_WR);
}

// ---- ending -------------------------------------------------------------------

void stream::reset_on_close() {
    _reset = true;
}

void stream::close(bool clean) {
    if (_closing) {
        return;
    }
    if (_records != nullptr && _fd >= 0 && !_tx.in_flight && !_tx.spliced &&
        _tx.end != write_end::shut && !_reset) {
        _records->last_words(clean);
        byte_queue& q = _records->outgoing();
        // Never waited for: a peer that does not read loses them. (Kernel
        // records send their alert alone, when nothing else is queued.)
        if (!q.empty()) {
            q.move_into(_tx.buffer);
            _tx.offset = 0;
            submit_send(0, MSG_DONTWAIT);
        } else if (auto c = _records->take_control()) {
            submit_control(*c, MSG_DONTWAIT);
        }
    }
    close_with({});
}

void stream::close_with(std::span<const uint8_t> bytes) {
    if (_closing) {
        return;
    }
    if (_fd < 0) {
        _closing = true;
        return;
    }
    if (!bytes.empty() && !_tx.in_flight && _tx.end != write_end::shut && !_reset) {
        _tx.buffer.assign(bytes.begin(), bytes.end());
        _tx.offset = 0;
        submit_send(0, MSG_DONTWAIT);
    }
    _closing = true;
    if (_reset) {
        linger l{1, 0};  // the close sends RST
        ::setsockopt(_fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    // The last words (issued at once, MSG_DONTWAIT), then the cancel of
    // whatever else is armed or in flight. The close waits for release().
    io_uring_prep_cancel_fd(_owner.sqe(runtime::op::socket_end), _fd, IORING_ASYNC_CANCEL_ALL);
}

bool stream::release() {
    if (!_closing || _fd < 0) {
        return false;
    }
    io_uring_prep_close(_owner.sqe(runtime::op::socket_end), _fd);
    _fd = -1;
    return true;
}

}  // namespace tlsterm::transport
