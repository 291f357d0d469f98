#include "proxy/tcp_pipe.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace tlsterm::proxy {

using runtime::op;

std::unique_ptr<conn::stream_handler> pipe_factory::make(conn::client_side& client,
                                                         conn::listener_runtime& listener,
                                                         conn::conn_env& env, byte_queue& input,
                                                         conn::client_facts facts) {
    return std::make_unique<tcp_pipe>(client, listener, env, input, std::move(facts));
}

tcp_pipe::tcp_pipe(conn::client_side& client, conn::listener_runtime& listener, conn::conn_env& env,
                   byte_queue& input, conn::client_facts facts)
    : _client(client),
      _listener(listener),
      _env(env),
      _facts(std::move(facts)),
      _records(input),
      _upstream(client.client_owner(), env, op::upstream_recv, op::upstream_send,
                op::upstream_ready) {}

void tcp_pipe::start() {
    connect_next();
}

void tcp_pipe::connect_next() {
    const auto& addresses = _listener.upstream->addresses;
    if (_connect_attempts >= addresses.size()) {
        TLSTERM_LOG(log_level::warn,
                    "%s: listener %s: upstream %s is down (no address accepted a connection), "
                    "closing the client",
                    _facts.peer.c_str(), _listener.config->name.c_str(),
                    _listener.upstream->name.c_str());
        _client.client_finish(close_reason::upstream_down);
        return;
    }
    const socket_address& a = addresses[_listener.next_address++ % addresses.size()];
    _address = &a;
    ++_connect_attempts;
    int fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        TLSTERM_LOG(log_level::error, "%s: socket() for upstream %s: %s", _facts.peer.c_str(),
                    a.to_string().c_str(), std::strerror(err));
        _client.client_finish(err == EMFILE || err == ENFILE ? close_reason::out_of_descriptors
                                                             : close_reason::upstream_down);
        return;
    }
    _upstream.attach(fd);
    _upstream.set_records(&_records);
    _client.client_owner().connect(fd, a, _listener.upstream->connect_timeout_ms, _connect_timeout);
}

void tcp_pipe::on_completion(runtime::op kind, int res, uint32_t flags) {
    switch (kind) {
        case op::upstream_connect:
            on_connect(res);
            break;
        case op::upstream_recv:
            on_recv(res, flags);
            break;
        case op::upstream_send:
            on_send(res);
            break;
        case op::upstream_ready:
            _upstream.on_ready(res, flags);
            _upstream.arm();
            break;
        case op::to_upstream_ready:
            on_ready(true, res, flags);
            break;
        case op::to_upstream_fill:
            on_fill(true, res);
            break;
        case op::to_upstream_drain:
            on_drain(true, res);
            break;
        case op::to_client_ready:
            on_ready(false, res, flags);
            break;
        case op::to_client_fill:
            on_fill(false, res);
            break;
        case op::to_client_drain:
            on_drain(false, res);
            break;
        default:
            break;  // the connect's linked timeout
    }
}

void tcp_pipe::on_connect(int res) {
    if (_state == state::closing) {
        return;
    }
    if (res == 0) {
        _env.counters.upstream_connects.fetch_add(1, std::memory_order_relaxed);
        _state = state::open;
        _upstream.arm();
        flush();
        half_close();
        start_splicing();
        return;
    }
    _env.counters.upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
    TLSTERM_LOG(log_level::warn, "%s: upstream %s (%s): connect failed: %s", _facts.peer.c_str(),
                _listener.upstream->name.c_str(), _address->to_string().c_str(),
                res == -ECANCELED ? "timed out" : std::strerror(-res));
    _upstream.discard();
    connect_next();
}

void tcp_pipe::on_recv(int res, uint32_t flags) {
    auto r = _upstream.on_recv(res, flags);
    if (_state == state::closing) {
        return;
    }
    using what = transport::stream::received::what;
    switch (r.kind) {
        case what::bytes: {
            auto bytes = r.buffer.bytes();
            _client.client_touch();
            _env.counters.bytes_from_upstream.fetch_add(bytes.size(), std::memory_order_relaxed);
            _client.client_send(bytes);  // a failed write closes (heard later)
            if (_client.client_backlog() >= _listener.gen->limits->max_buffered_bytes) {
                _upstream.pause();  // the client reads slower than the upstream sends
            }
            break;
        }
        case what::end:
            half_close();
            return;
        case what::error:
            on_upstream_error("read", r.error);
            return;
        case what::nothing:
            break;
    }
    _upstream.arm();  // when the receive ended; a no-op while it runs, is paused or spliced
    pump();
}

void tcp_pipe::on_send(int res) {
    auto r = _upstream.on_send(res);
    if (_state == state::closing) {
        return;
    }
    if (r.error != 0) {
        on_upstream_error("send", r.error);
        return;
    }
    _client.client_touch();
    if (!r.done) {
        return;  // the rest of the bytes went out again
    }
    flush();
    pump();
    half_close();
    _client.client_input_consumed();  // reads what backpressure held back
}

// The upstream socket failed (reset, broken pipe): the client gets a reset too.
void tcp_pipe::on_upstream_error(const char* what, int res) {
    TLSTERM_LOG(log_level::debug, "%s: upstream %s failed: %s", _facts.peer.c_str(), what,
                std::strerror(-res));
    _client.client_abort(close_reason::upstream_reset);
}

void tcp_pipe::flush() {
    if (_state == state::open) {
        _upstream.flush();
    }
}

void tcp_pipe::on_client_input() {
    if (_state != state::open) {
        return;  // connecting: what came is sent once connected
    }
    if (_splice && _splice->to_upstream.at_record() && !_client.client_receiving()) {
        _splice->to_upstream.resume_fill();  // the connection read the record
    }
    flush();
    pump();
    half_close();
}

void tcp_pipe::on_client_drained() {
    if (_state == state::closing) {
        return;
    }
    if (_upstream.paused() &&
        _client.client_backlog() <= _listener.gen->limits->max_buffered_bytes / 2) {
        _upstream.resume();
    }
    pump();
    half_close();
}

void tcp_pipe::half_close() {
    if (_state != state::open) {
        return;
    }
    // Client -> upstream finished: the client's stream ended and everything
    // it sent was delivered (end_write waits for the queue). Pass it on as
    // a FIN.
    if (_client.client_input_ended()) {
        _upstream.end_write();
    }
    // Upstream -> client finished: close_notify, then FIN once it is sent.
    if (_upstream.input_ended() || (_splice && _splice->to_client.finished())) {
        _client.client_end_write();
    }
    if (_upstream.write_shut() && _client.client_write_shut()) {
        _client.client_finish(close_reason::done);
    }
}

void tcp_pipe::on_client_closing(bool reset) {
    if (_state == state::closing) {
        return;
    }
    _state = state::closing;
    if (_splice) {
        _splice->to_upstream.stop();
        _splice->to_client.stop();
    }
    if (reset) {
        _upstream.reset_on_close();
    }
    _upstream.close(!reset);
}

void tcp_pipe::release_sockets() {
    _upstream.release();
    _splice.reset();  // the pipes: nothing is in flight on them any more
}

// ---- splicing -------------------------------------------------------------------

void tcp_pipe::on_client_kernel_records() {
    start_splicing();
}

// Once connected with the client's records in the kernel both ways: a
// pipe per direction, both sockets non-blocking, and the receives of both
// streams handed over (what they still bring goes the userspace way
// first).
void tcp_pipe::start_splicing() {
    int client_fd = _client.client_kernel_socket();
    if (!_listener.splice || _splice_tried || _state != state::open || client_fd < 0) {
        return;
    }
    _splice_tried = true;
    auto up = _env.splice_pipes();
    auto down = up ? _env.splice_pipes() : std::move(up);
    // The client's socket is non-blocking since its records went to the
    // kernel (transport::stream::set_records).
    if (!down || !_upstream.make_nonblocking()) {
        std::string why =
            !down ? down.error() : std::string("socket flags: ") + std::strerror(errno);
        TLSTERM_LOG(log_level::debug, "%s: listener %s: copying instead of splicing: %s",
                    _facts.peer.c_str(), _listener.config->name.c_str(), why.c_str());
        _env.counters.splice_fallbacks.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    _splice = std::make_unique<spliced>(_client.client_owner(), std::move(*up), std::move(*down),
                                        client_fd, _upstream.fd());
    _env.counters.splice_connections.fetch_add(1, std::memory_order_relaxed);
    _client.client_hand_over_receive();
    _upstream.hand_over_receive();
    pump();
}

// Each direction drains its pipe, and fills it once nothing goes the
// userspace way; while its pipe holds bytes, the destination's stream
// sends nothing of its own.
void tcp_pipe::pump() {
    if (!_splice || _state != state::open || _client.client_kernel_socket() < 0 ||
        _upstream.closing()) {
        return;  // the sockets are closing: their cancels may have run
    }
    auto& up = _splice->to_upstream;
    up.pump(_records.outgoing().empty() && !_upstream.sending() && !_client.client_receiving() &&
            !_client.client_input_ended());
    _upstream.spliced_send(up.holds_bytes());  // flushes what waited once it is out
    auto& down = _splice->to_client;
    down.pump(_client.client_backlog() == 0 && !_upstream.receive_armed());
    _client.client_splicing_out(down.holds_bytes());
}

void tcp_pipe::on_ready(bool to_upstream, int res, uint32_t flags) {
    (to_upstream ? _splice->to_upstream : _splice->to_client).on_ready(res, flags);
    if (_state != state::closing) {
        pump();
    }
}

void tcp_pipe::on_fill(bool to_upstream, int res) {
    auto& d = to_upstream ? _splice->to_upstream : _splice->to_client;
    auto r = d.on_fill(res);
    if (_state == state::closing) {
        return;
    }
    using what = transport::splice_direction::filled::what;
    switch (r.kind) {
        case what::bytes:
            _client.client_touch();
            (to_upstream ? _env.counters.bytes_from_client : _env.counters.bytes_from_upstream)
                .fetch_add(r.bytes, std::memory_order_relaxed);
            break;
        case what::end:
            if (to_upstream) {
                _client.client_splice_stopped(0);  // the client's FIN
            }
            break;
        case what::record:
            if (to_upstream) {
                _client.client_splice_stopped(-EINVAL);  // read by the connection
                return;                                  // which calls on_client_input once it has
            }
            on_upstream_error("splice", -EINVAL);
            return;
        case what::error:
            if (to_upstream) {
                _client.client_splice_stopped(r.error);  // closes
            } else {
                on_upstream_error("read", r.error);
            }
            return;
        case what::nothing:
            break;
    }
    pump();
    half_close();
}

void tcp_pipe::on_drain(bool to_upstream, int res) {
    auto& d = to_upstream ? _splice->to_upstream : _splice->to_client;
    auto r = d.on_drain(res);
    if (_state == state::closing) {
        return;
    }
    if (r.error != 0) {
        if (to_upstream) {
            on_upstream_error("send", r.error);
        } else {
            TLSTERM_LOG(log_level::debug, "%s: client send failed: %s", _facts.peer.c_str(),
                        std::strerror(-r.error));
            _client.client_abort(close_reason::client_reset);  // the upstream is reset too
        }
        return;
    }
    if (r.bytes != 0) {
        _client.client_touch();
    }
    pump();
    half_close();
}

}  // namespace tlsterm::proxy
