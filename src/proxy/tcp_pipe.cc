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
      _upstream(client.client_owner(), env, op::upstream_recv, op::upstream_send) {}

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
    _upstream.arm();  // when the receive ended; a no-op while it runs or is paused
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
    flush();
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
    if (_upstream.input_ended()) {
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
    if (reset) {
        _upstream.reset_on_close();
    }
    _upstream.close(!reset);
}

void tcp_pipe::release_sockets() {
    _upstream.release();
}

}  // namespace tlsterm::proxy
