#include "transport/splice.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace tlsterm::transport {

namespace {

// What a pipe holds by default (16 pages); a user past
// fs.pipe-user-pages-soft gets 2 pages, too few for a TLS record.
constexpr int wanted_pipe_bytes = 64 * 1024;

}  // namespace

std::expected<splice_pipe, std::string> open_splice_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        return std::unexpected(std::string("pipe2: ") + std::strerror(errno));
    }
    splice_pipe p{unique_fd(fds[0]), unique_fd(fds[1]), 0};
    int size = ::fcntl(fds[0], F_GETPIPE_SZ);
    if (size < wanted_pipe_bytes) {
        return std::unexpected("the kernel gives a pipe of " + std::to_string(size) +
                               " bytes (fs.pipe-user-pages-soft reached)");
    }
    p.capacity = static_cast<std::size_t>(size);
    return p;
}

splice_direction::splice_direction(runtime::ring_owner& owner, runtime::op ready, runtime::op fill,
                                   runtime::op drain, splice_pipe pipe, int from, int to)
    : _owner(owner),
      _ready_op(ready),
      _fill_op(fill),
      _drain_op(drain),
      _pipe(std::move(pipe)),
      _from(from),
      _to(to) {}

void splice_direction::pump(bool may_fill) {
    if (_stopped) {
        return;
    }
    if (!_draining && _in_pipe != 0) {
        submit(false);
    }
    if (!may_fill || _source_ended || _at_record) {
        return;
    }
    if (!_polling) {
        io_uring_prep_poll_multishot(_owner.sqe(_ready_op), _from, POLLIN);
        _polling = true;
    }
    if (_readable && !_filling && !_pipe_full && _in_pipe < _pipe.capacity) {
        submit(true);
    }
}

// A fill as it is (the source's poll said it is readable), or a drain
// linked behind a poll of the destination; either runs in an io-wq worker
// and moves only what is there.
void splice_direction::submit(bool fill) {
    constexpr unsigned flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
    if (fill) {
        io_uring_prep_splice(_owner.sqe(_fill_op), _from, -1, _pipe.write.get(), -1,
                             static_cast<unsigned>(_pipe.capacity - _in_pipe), flags);
        _filling = true;
        _readable = false;  // a wakeup from now on says to go again
        return;
    }
    _owner.reserve(2);
    io_uring_sqe* poll = _owner.sqe(runtime::op::socket_end);
    io_uring_prep_poll_add(poll, _to, POLLOUT);
    poll->flags |= IOSQE_IO_LINK;
    io_uring_prep_splice(_owner.sqe(_drain_op), _pipe.read.get(), -1, _to, -1,
                         static_cast<unsigned>(_in_pipe), flags);
    _draining = true;
}

void splice_direction::on_ready(int res, uint32_t flags) {
    if ((flags & IORING_CQE_F_MORE) == 0) {
        _polling = false;  // armed again by pump() unless closing
    }
    if (res == -ECANCELED) {
        _stopped = true;  // only a closing socket cancels
        return;
    }
    // A readiness, or the poll's own error: a fill says what it is.
    _readable = _readable || res != 0;
}

splice_direction::filled splice_direction::on_fill(int res) {
    _filling = false;
    filled r;
    if (_stopped) {
        return r;
    }
    if (res > 0) {
        _in_pipe += static_cast<std::size_t>(res);
        r.kind = filled::what::bytes;
        r.bytes = static_cast<std::size_t>(res);
        _readable = true;  // more may wait, their wakeup already heard
    } else if (res == 0) {
        _source_ended = true;
        r.kind = filled::what::end;
    } else if (res == -EAGAIN) {
        // Nothing to move: no whole record yet (the next wakeup says when),
        // or the pipe's slots are taken (the next drain frees some).
        _pipe_full = _in_pipe != 0;
    } else if (res == -EINVAL) {
        _at_record = true;  // kernel TLS splices application data only
        r.kind = filled::what::record;
    } else if (res == -ECANCELED) {
        _stopped = true;  // only a closing socket cancels
    } else {
        _source_ended = true;
        r.kind = filled::what::error;
        r.error = res;
    }
    return r;
}

splice_direction::drained splice_direction::on_drain(int res) {
    _draining = false;
    drained r;
    if (_stopped) {
        return r;
    }
    if (res > 0) {
        _in_pipe -= std::min(_in_pipe, static_cast<std::size_t>(res));
        if (_pipe_full) {
            _pipe_full = false;
            _readable = true;  // the fill that found no slot goes again
        }
        r.bytes = static_cast<std::size_t>(res);
    } else if (res == 0) {
        r.error = -EIO;  // the pipe holds bytes, and the splice moved none
    } else if (res == -ECANCELED) {
        _stopped = true;  // only a closing socket cancels
    } else if (res != -EAGAIN) {
        r.error = res;
    }
    return r;
}

void splice_direction::stop() {
    _stopped = true;
    if (_filling) {
        io_uring_prep_cancel_fd(_owner.sqe(runtime::op::socket_end), _pipe.write.get(),
                                IORING_ASYNC_CANCEL_ALL);
    }
}

void splice_direction::resume_fill() {
    _at_record = false;
    _readable = true;  // what follows the record may be there already
}

}  // namespace tlsterm::transport
