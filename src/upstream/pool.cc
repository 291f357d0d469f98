#include "upstream/pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.h"
#include "runtime/op_id.h"

namespace tlsterm::upstream {

namespace {

constexpr std::size_t decrypt_chunk = 16 * 1024;
constexpr uint32_t max_backoff_ms = 30000;

}  // namespace

// ---- pooled_connection ----------------------------------------------------------

pooled_connection::pooled_connection(pool& owner, uint32_t slot, uint32_t generation, int fd,
                                     std::size_t address)
    : ring_owner(false, owner._env.ring, slot, generation),
      _pool(owner),
      _sock(*this, owner._env, runtime::op::upstream_recv, runtime::op::upstream_send,
            runtime::op::upstream_ready),
      _address(address) {
    _sock.attach(fd);
    _sock.set_records(&_plain);
    ++_pool._objects;
}

pooled_connection::~pooled_connection() {
    --_pool._objects;
    connection_deadlines::remove(_timer);
}

const socket_address& pooled_connection::address() const {
    return _pool._config.addresses[_address];
}

void pooled_connection::start() {
    connect(_sock.fd(), address(), _pool._config.connect_timeout_ms, _connect_timeout);
}

void pooled_connection::on_completion(runtime::op kind, int res, uint32_t flags) {
    completed(flags);
    switch (kind) {
        case runtime::op::upstream_connect:
            on_connect(res);
            break;
        case runtime::op::upstream_recv:
            on_recv(res, flags);
            break;
        case runtime::op::upstream_send:
            on_send(res);
            break;
        case runtime::op::upstream_ready:  // kernel records: the socket woke
            _sock.on_ready(res, flags);
            if (_state != state::closing) {
                _sock.arm();
            }
            break;
        default:
            break;
    }
    if (_state == state::switching) {
        continue_to_kernel();
    }
    if (_state == state::closing && inflight() == 0) {
        _sock.release();  // everything on the socket completed: now it may close
    }
}

void pooled_connection::on_connect(int res) {
    if (_state == state::closing) {
        return;
    }
    auto& env = _pool._env;
    if (res != 0) {
        env.counters.upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
        _pool.on_connect_failed(*this, std::string("connect failed: ") +
                                           (res == -ECANCELED ? "timed out" : std::strerror(-res)));
        return;
    }
    env.counters.upstream_connects.fetch_add(1, std::memory_order_relaxed);
    _sock.arm();
    if (_pool._tls == nullptr) {
        _pool.on_ready(*this);
        return;
    }
    const auto& cfg = _pool._tls->config();
    _offered_session = cfg.session_resumption && _pool._resume != nullptr;
    _tls = tls::session::create_client(_pool._tls->ctx(), cfg.server_name,
                                       cfg.verify_hostname ? cfg.verify_name : std::string(),
                                       _offered_session ? _pool._resume : nullptr);
    if (!_tls) {
        _pool.on_connect_failed(*this, "cannot create a TLS session (out of memory)");
        return;
    }
    _tls_records.bind(*_tls);
    _sock.set_records(&_tls_records);
    _state = state::handshaking;
    _pool._handshake_timers.schedule(_timer, env.now_ms);
    try_handshake();
}

void pooled_connection::try_handshake() {
    auto status = _tls->handshake();
    flush();  // the ClientHello, or an alert
    if (status == tls::tls_status::want_read) {
        return;
    }
    if (status == tls::tls_status::failed) {
        std::string cause = "TLS handshake: " + client_context::describe_failure(*_tls);
        if (_offered_session) {
            _pool.on_resumption_refused(*this, cause);
        } else {
            _pool.on_connect_failed(*this, cause);
        }
        return;
    }
    if (std::string why = _pool._tls->check_peer(*_tls); !why.empty()) {
        _pool.on_connect_failed(*this, why);
        return;
    }
    connection_deadlines::remove(_timer);
    _tls_records.established();
    if (!_tls->tls13()) {
        // A TLS 1.2 ticket came with the handshake (a TLS 1.3 one comes
        // after it: see on_released). Kept now, whether or not this
        // connection ever completes an exchange.
        _pool.keep_session(*_tls);
    }
    _pool.on_ready(*this);
    if (_state != state::closing && !_tls->cipher_in().empty()) {
        decrypt();  // post-handshake messages (TLS 1.3 tickets) that came along
    }
}

void pooled_connection::on_recv(int res, uint32_t flags) {
    auto r = _sock.on_recv(res, flags);
    using what = transport::stream::received::what;
    if (_state == state::closing) {
        return;
    }
    switch (r.kind) {
        case what::bytes:
            if (_kernel) {
                on_kernel_record(r.record_type, r.buffer.bytes());
            } else {
                on_bytes(r.buffer.bytes());
            }
            break;
        case what::end:
            on_eof();
            return;
        case what::error:
            if (_kernel) {
                on_kernel_receive_error(r.error);
            } else {
                fail(false, std::string("read failed: ") + std::strerror(-r.error));
            }
            return;
        case what::nothing:
            break;
    }
    if (_state != state::closing) {
        _sock.arm();  // when the receive ended; a no-op while it runs or is paused
    }
}

void pooled_connection::on_bytes(std::span<const uint8_t> bytes) {
    if (_state == state::connecting) {
        return;
    }
    if (!_tls) {
        deliver(bytes);
        return;
    }
    _tls->cipher_in().append(bytes);
    if (_state == state::handshaking) {
        try_handshake();
    } else {
        decrypt();
    }
}

void pooled_connection::on_eof() {
    if (_tls && _state != state::handshaking) {
        _tls->set_transport_eof();
        decrypt();
        return;
    }
    if (_state == state::handshaking) {
        _pool.on_connect_failed(*this, "origin closed the connection during the TLS handshake");
        return;
    }
    fail(true, "origin closed the connection");
}

void pooled_connection::attach(user& u) {
    _state = state::busy;
    _user = &u;
    _client = u.client();
    _pool.on_attached(_client);
    ++_attachments;
}

void pooled_connection::detach() {
    if (_user != nullptr) {
        _user = nullptr;
        _pool.on_detached(_client);
    }
}

void pooled_connection::decrypt() {
    uint8_t buf[decrypt_chunk];
    const uint32_t attachment = _attachments;
    while ((_state == state::idle || _state == state::busy || _state == state::switching) &&
           _attachments == attachment) {
        auto r = _tls->read(buf);
        if (r.status == tls::tls_status::ok) {
            deliver(std::span<const uint8_t>(buf, r.bytes));
            continue;
        }
        if (r.status == tls::tls_status::want_read) {
            break;
        }
        if (r.status == tls::tls_status::closed) {
            fail(true, "origin closed the connection");
        } else {
            fail(false, "TLS: " + _tls->error());
        }
        break;
    }
    flush();  // post-handshake replies
}

void pooled_connection::deliver(std::span<const uint8_t> plaintext) {
    if (_state == state::busy && _user != nullptr) {
        connection_deadlines::remove(_timer);  // the response began (a no-op after)
        _pool._env.counters.bytes_from_upstream.fetch_add(plaintext.size(),
                                                          std::memory_order_relaxed);
        _user->on_upstream_data(plaintext);
        return;
    }
    // An idle connection has nothing to receive: a late or unsolicited
    // response cannot be attributed to any request.
    TLSTERM_LOG(log_level::debug,
                "upstream %s (%s): %zu unexpected bytes on an idle connection, "
                "closing it",
                _pool.name().c_str(), address().to_string().c_str(), plaintext.size());
    close();
}

void pooled_connection::send(std::span<const uint8_t> plaintext) {
    if (_state == state::closing) {
        return;
    }
    if (_sock.records()->write(plaintext) != tls::tls_status::ok) {
        fail(false, "TLS write: " + _tls->error());  // only wolfSSL (_tls) fails a write
        return;
    }
    flush();
}

std::size_t pooled_connection::backlog() const {
    return _sock.backlog();
}

void pooled_connection::shutdown_write() {
    if (_state == state::closing || _sock.write_shut()) {
        return;
    }
    _sock.end_write();  // close_notify over TLS, then FIN
}

void pooled_connection::flush() {
    if (_state != state::closing) {
        _sock.flush();
    }
}

void pooled_connection::on_send(int res) {
    auto r = _sock.on_send(res);
    if (_state == state::closing) {
        return;
    }
    if (r.error != 0) {
        if (_state == state::handshaking) {
            _pool.on_connect_failed(*this, std::string("send failed: ") + std::strerror(-r.error));
        } else {
            fail(false, std::string("send failed: ") + std::strerror(-r.error));
        }
        return;
    }
    if (!r.done) {
        return;  // the rest of the bytes went out again
    }
    flush();
    if (!_sock.sending() && _user != nullptr) {
        _user->on_upstream_drained();
    }
}

void pooled_connection::pause_reads(bool paused) {
    if (_state == state::closing) {
        return;
    }
    paused ? _sock.pause() : _sock.resume();
}

void pooled_connection::await_response() {
    if (_state == state::closing) {
        return;
    }
    _pool._response_timers.schedule(_timer, _pool._env.now_ms);
}

void pooled_connection::release(bool reusable) {
    detach();
    if (_state == state::closing) {
        _tell_later.cancel();  // the user let go before it heard
        return;
    }
    ++_attachments;  // the decrypt loop delivering the end of this exchange stops
    ++_requests;
    if (reusable && _tls && _tls->input_pending()) {
        TLSTERM_LOG(log_level::debug,
                    "upstream %s (%s): bytes after a complete response, closing the connection",
                    _pool.name().c_str(), address().to_string().c_str());
        reusable = false;  // they answer no request
    }
    connection_deadlines::remove(_timer);
    if (_sock.paused()) {
        pause_reads(false);  // an idle connection must see an origin's EOF
    }
    _pool.on_released(*this, reusable);
}

void pooled_connection::abandon() {
    detach();
    _tell_later.cancel();
    close(false);  // mid-exchange: the origin must not take it for a complete one
}

void pooled_connection::fail(bool eof, const std::string& cause, bool clean) {
    user* u = _user;
    detach();
    close(clean);
    if (u != nullptr) {
        _news = closed_news{u, eof, cause};
        _pool._env.later.post(_tell_later);
    }
}

void pooled_connection::tell_closed() {
    closed_news n = std::exchange(_news, closed_news{});
    n.u->on_upstream_closed(n.eof, n.cause);
}

void pooled_connection::close(bool clean) {
    if (_state == state::closing) {
        return;
    }
    connection_deadlines::remove(_timer);
    _pool.on_closed(*this);
    _state = state::closing;
    detach();
    _sock.close(clean);  // close_notify first when clean and established
}

// ---- the records' move to the kernel ------------------------------------------------

// After the first exchange (released reusable, idle now): a suite the
// kernel takes and the ULP attached, the receive is cancelled; its last
// bytes still come, for wolfSSL.
void pooled_connection::begin_kernel_records() {
    if (auto attached = transport::attach_for_session(*_pool._kernel, _sock.fd(), *_tls);
        !attached) {
        stay_in_userspace(attached.error());  // nothing changed on the socket
        return;
    }
    // The ULP without keys passes bytes as they are; a switch the origin
    // never lets finish (half a record sent) ends at the idle timeout.
    _state = state::switching;
    _pool._switching.push_back(this);
    _pool._idle_timers.schedule(_timer, _pool._env.now_ms);
    _sock.pause();
    continue_to_kernel();
}

// The records stay with wolfSSL, counted and logged (at info: the upstream
// asked for kernel records).
void pooled_connection::stay_in_userspace(const std::string& why) {
    TLSTERM_LOG(log_level::info, "upstream %s (%s): TLS records stay in userspace: %s",
                _pool.name().c_str(), address().to_string().c_str(), why.c_str());
    _pool._env.counters.ktls_upstream_fallbacks.fetch_add(1, std::memory_order_relaxed);
    if (_state == state::switching) {
        _sock.resume();
        _pool.on_switched(*this);
    } else {
        _pool.hand_on(*this);  // never began: free at once
    }
}

void pooled_connection::continue_to_kernel() {
    if (_state != state::switching) {
        return;
    }
    if (_tls->input_pending()) {
        decrypt();  // whole records wolfSSL has not read (a ticket; data closes)
        if (_state != state::switching) {
            return;
        }
    }
    if (_sock.receive_armed() || _sock.backlog() != 0) {
        return;  // a receive or a send (an answer decrypt() made) still to complete
    }
    if (std::size_t missing = _tls->record_remainder()) {
        _sock.arm_exactly(missing);  // the rest of a record, and not a byte more
        return;
    }
    hand_records_to_kernel();
}

void pooled_connection::hand_records_to_kernel() {
    if (auto installed = transport::install_session_keys(*_pool._kernel, _sock.fd(), *_tls);
        !installed) {
        if (!installed.error().no_way_back) {
            stay_in_userspace(installed.error().why);
            return;
        }
        TLSTERM_LOG(log_level::error, "upstream %s (%s): kernel TLS receive keys refused: %s",
                    _pool.name().c_str(), address().to_string().c_str(),
                    installed.error().why.c_str());
        close(false);  // no close_notify wolfSSL would make is one any more
        return;
    }
    TLSTERM_LOG(log_level::debug, "upstream %s (%s): TLS records in the kernel (%s %s)",
                _pool.name().c_str(), address().to_string().c_str(),
                std::string(_tls->version()).c_str(), std::string(_tls->cipher()).c_str());
    _kernel = std::make_unique<transport::kernel_records>(_tls->tls13());
    _sock.set_records(_kernel.get());
    _tls_records.unbind();
    _tls.reset();  // the WOLFSSL and its buffers
    _pool._env.counters.ktls_upstream_connections.fetch_add(1, std::memory_order_relaxed);
    _sock.resume();
    _pool.on_switched(*this);
}

// A record the kernel decrypted: application data is the response; the
// others are judged as the client side of a connection does.
void pooled_connection::on_kernel_record(uint8_t type, std::span<const uint8_t> bytes) {
    if (type == transport::record_application_data) {
        deliver(bytes);
        return;
    }
    using what = transport::control_verdict::what;
    auto v = transport::read_control_record(type, bytes, false, _kernel->tls13());
    switch (v.kind) {
        case what::ignore:
            return;
        case what::no_renegotiation:  // a server's verdict, never a client's
        case what::end:
            fail(true, "origin closed the connection");
            return;
        case what::key_update:
            _pool._env.counters.ktls_upstream_key_updates.fetch_add(1, std::memory_order_relaxed);
            TLSTERM_LOG(log_level::info,
                        "upstream %s (%s): the origin sent a TLS KeyUpdate, which kernel TLS "
                        "cannot follow: closing",
                        _pool.name().c_str(), address().to_string().c_str());
            // close_notify under the old keys, which the origin still reads.
            fail(false, "origin sent a TLS KeyUpdate, which kernel TLS cannot follow", true);
            return;
        case what::peer_alert:
            fail(false, "TLS alert " + std::to_string(v.description) + " from the origin");
            return;
        case what::refuse:
            _kernel->fail(v.answer);
            fail(false,
                 "TLS: a record of type " + std::to_string(type) + " from the origin refused");
            return;
    }
}

void pooled_connection::on_kernel_receive_error(int error) {
    if (auto alert = transport::alert_for_receive_error(error)) {
        _kernel->fail(*alert);  // a record that did not authenticate, too long, malformed
        fail(false, std::string("TLS: a record from the origin refused: ") + std::strerror(-error));
        return;
    }
    fail(false, std::string("read failed: ") + std::strerror(-error));
}

// ---- pool ---------------------------------------------------------------------------

pool::pool(runtime::services& env, const upstream_config& config, client_context* tls,
           const transport::kernel_tls_calls* kernel)
    : _env(env),
      _config(config),
      _tls(tls),
      _kernel(tls != nullptr ? kernel : nullptr),
      _endpoints(config.addresses.size()),
      _share(static_cast<uint32_t>(
          (uint64_t{config.pool.max_connections} * config.pool.client_share_percent + 99) / 100)),
      _handshake_timers(config.connect_timeout_ms),
      _idle_timers(config.pool.idle_timeout_ms),
      _response_timers(config.pool.response_timeout_ms) {}

pool::~pool() {
    if (_resume != nullptr) {
        wolfSSL_SESSION_free(_resume);
    }
}

pooled_connection* pool::acquire(user& u, bool fresh) {
    const bool shared = under_share(u.client());
    if (!fresh && shared && !_idle.empty()) {
        pooled_connection* c = take_idle();
        c->attach(u);
        return c;
    }
    if (fresh && shared && _open >= _config.pool.max_connections && !_idle.empty()) {
        _idle.front()->close();  // the least recently used makes room for a new one
    }
    // Beyond max_connections, or beyond its address's share, a request
    // waits for a busy connection; the queue of those is bounded, and a
    // full one keeps room for addresses with fewer requests waiting.
    if ((_open >= _config.pool.max_connections || !shared) &&
        _waiters.size() >= _config.pool.queue_size && !make_room_for(u.client())) {
        answer_later({&u, nullptr, 503,
                      "upstream " + _config.name + ": " + std::to_string(_waiters.size()) +
                          " requests already wait for a connection (queue_size)"});
        return nullptr;
    }
    _waiters.push_back(waiter{&u, _env.now_ms + _config.pool.queue_timeout_ms, fresh});
    serve_waiters();
    _env.later.post(_answer_later);  // fail_waiters_if_hopeless, after this call
    return nullptr;
}

void pool::cancel(user& u) {
    auto it = std::ranges::find_if(_waiters, [&](const waiter& w) { return w.u == &u; });
    if (it != _waiters.end()) {
        _waiters.erase(it);
    }
    for (auto a = _answers.begin(); a != _answers.end();) {
        if (a->u != &u) {
            ++a;
            continue;
        }
        pooled_connection* c = a->c;
        a = _answers.erase(a);
        if (c != nullptr) {
            hand_on(*c);  // it was on its way to `u`
        }
    }
}

void pool::answer_later(answer a) {
    _answers.push_back(std::move(a));
    _env.later.post(_answer_later);
}

void pool::deliver_answers() {
    if (std::exchange(_share_changed, false)) {
        serve_idle_to_waiters();
        serve_waiters();
    }
    while (!_answers.empty()) {
        answer a = std::move(_answers.front());
        _answers.pop_front();
        if (a.c == nullptr) {
            a.u->on_no_connection(a.status, a.cause);
        } else if (a.c->_state == pooled_connection::state::closing) {
            // The origin closed it meanwhile: the user waits again, first.
            _waiters.push_front(waiter{a.u, _env.now_ms + _config.pool.queue_timeout_ms, false});
            serve_waiters();
        } else {
            a.c->attach(*a.u);
            a.u->on_connection(*a.c);
        }
    }
    fail_waiters_if_hopeless();
}

void pool::hand_on(pooled_connection& c) {
    if (_phase == phase::draining) {
        c.close();
        return;
    }
    if (auto it = next_waiter(false); it != _waiters.end()) {
        user* u = it->u;
        _waiters.erase(it);
        answer_later({u, &c, 0, {}});  // attached when it arrives
        return;
    }
    if (_phase == phase::retired) {
        c.close();        // nobody of this generation waits for it
        serve_waiters();  // a fresh waiter may have the room it leaves
        return;
    }
    c._state = pooled_connection::state::idle;
    _idle.push_back(&c);
    _idle_timers.schedule(c._timer, _env.now_ms);
}

bool pool::open_one() {
    const std::size_t n = _config.addresses.size();
    for (std::size_t tried = 0; tried < n; ++tried) {
        std::size_t index = _next_address++ % n;
        endpoint& e = _endpoints[index];
        if (e.down_until_ms > _env.now_ms) {
            continue;
        }
        const socket_address& a = _config.addresses[index];
        int fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            TLSTERM_LOG(log_level::error, "upstream %s: socket(): %s", _config.name.c_str(),
                        std::strerror(errno));
            return false;
        }
        pooled_connection* c =
            _env.slots.emplace<pooled_connection>([&](uint32_t slot, uint32_t generation) {
                return std::make_unique<pooled_connection>(*this, slot, generation, fd, index);
            });
        ++_open;
        ++_connecting;
        c->start();
        return true;
    }
    return false;
}

void pool::serve_waiters() {
    if (_phase == phase::draining) {
        return;
    }
    // Only for the waiters that may have a connection (their address holds
    // less than its share) and an idle one will not serve (one a share held
    // back: serve_idle_to_waiters).
    std::size_t fresh = 0;
    std::size_t reuse = 0;
    for (const waiter& w : _waiters) {
        if (under_share(w.u->client())) {
            ++(w.fresh ? fresh : reuse);
        }
    }
    if (reuse > 0 && !_idle.empty()) {
        _share_changed = true;  // idle ones a share held back: serve_idle_to_waiters
        _env.later.post(_answer_later);
    }
    const std::size_t need = fresh + (reuse > _idle.size() ? reuse - _idle.size() : 0);
    while (need > _connecting && _open < _config.pool.max_connections) {
        if (!open_one()) {
            break;
        }
    }
}

// ---- the client share ---------------------------------------------------------------

bool pool::under_share(uint64_t client) const {
    auto it = _held.find(client);
    return it == _held.end() || it->second < _share;
}

void pool::on_attached(uint64_t client) {
    ++_held[client];
}

void pool::on_detached(uint64_t client) {
    auto it = _held.find(client);
    if (it == _held.end()) {
        return;
    }
    if (--it->second == 0) {
        _held.erase(it);
    }
    if (!_waiters.empty()) {
        // A waiter held back may have a connection now: an idle one, or a
        // new one (when this one closes), after the call.
        _share_changed = true;
        _env.later.post(_answer_later);
    }
}

std::deque<pool::waiter>::iterator pool::next_waiter(bool any) {
    return std::ranges::find_if(
        _waiters, [&](const waiter& w) { return (any || !w.fresh) && under_share(w.u->client()); });
}

bool pool::make_room_for(uint64_t client) {
    std::unordered_map<uint64_t, uint32_t> waiting;
    for (const waiter& w : _waiters) {
        ++waiting[w.u->client()];
    }
    auto most = std::ranges::max_element(waiting, {}, [](const auto& kv) { return kv.second; });
    if (most == waiting.end() || most->first == client || most->second <= waiting[client] + 1) {
        return false;
    }
    const uint64_t crowding = most->first;
    auto newest = std::find_if(_waiters.rbegin(), _waiters.rend(),
                               [&](const waiter& w) { return w.u->client() == crowding; });
    user* u = newest->u;
    _waiters.erase(std::next(newest).base());
    answer_later({u, nullptr, 503,
                  "upstream " + _config.name + ": the queue is full (queue_size) and this " +
                      "client address has the most requests in it (client_share_percent)"});
    return true;
}

pooled_connection* pool::take_idle() {
    pooled_connection* c = _idle.back();  // the most recently used
    _idle.pop_back();
    connection_deadlines::remove(c->_timer);
    return c;
}

void pool::serve_idle_to_waiters() {
    while (!_idle.empty()) {
        auto it = next_waiter(false);
        if (it == _waiters.end()) {
            return;
        }
        user* u = it->u;
        _waiters.erase(it);
        answer_later({u, take_idle(), 0, {}});  // on its way; attached when it arrives
    }
}

std::string pool::down_cause() const {
    std::string out;
    for (std::size_t i = 0; i < _endpoints.size(); ++i) {
        const endpoint& e = _endpoints[i];
        out += (out.empty() ? "" : "; ") + _config.addresses[i].to_string() + ": " +
               (e.last_error.empty() ? std::string("down") : e.last_error);
    }
    return "upstream " + _config.name + " is down (" + out + ")";
}

// Nothing is connecting and no address may be tried: the queue would only
// time out.
void pool::fail_waiters_if_hopeless() {
    if (_connecting > 0 || _waiters.empty() || _open > 0) {
        return;
    }
    bool any_up = std::ranges::any_of(
        _endpoints, [&](const endpoint& e) { return e.down_until_ms <= _env.now_ms; });
    if (any_up && _phase != phase::draining) {
        return;
    }
    std::string cause = down_cause();
    while (!_waiters.empty()) {
        user* u = _waiters.front().u;
        _waiters.pop_front();
        u->on_no_connection(502, cause);
    }
}

void pool::on_ready(pooled_connection& c) {
    --_connecting;
    endpoint& e = _endpoints[c._address];
    e.backoff_ms = 0;
    e.last_error.clear();
    if (auto it = next_waiter(true); it != _waiters.end()) {
        user* u = it->u;
        _waiters.erase(it);
        c.attach(*u);
        u->on_connection(c);
        return;
    }
    c._state = pooled_connection::state::idle;
    if (_phase != phase::serving) {
        c.close();  // opened before the drain began; nobody will use it
        return;
    }
    _idle.push_back(&c);
    _idle_timers.schedule(c._timer, _env.now_ms);
}

void pool::on_released(pooled_connection& c, bool reusable) {
    if (c._tls && c._requests == 1 && c._tls->tls13()) {
        // After the first exchange a TLS 1.3 ticket has arrived (a TLS 1.2
        // session was kept at the handshake).
        keep_session(*c._tls);
    }
    if (!reusable || _phase == phase::draining || c._requests >= _config.pool.max_requests) {
        c.close();
        serve_waiters();
        return;
    }
    if (_kernel != nullptr && c._tls && c._requests == 1) {
        c.begin_kernel_records();  // then on_switched, or hand_on when it stays
        return;
    }
    hand_on(c);  // to a waiter, else idle (closed when retired)
}

void pool::on_switched(pooled_connection& c) {
    std::erase(_switching, &c);
    connection_deadlines::remove(c._timer);
    c._state = pooled_connection::state::idle;  // given to nobody until hand_on says
    hand_on(c);
}

void pool::on_connect_failed(pooled_connection& c, const std::string& cause) {
    endpoint& e = _endpoints[c._address];
    if (e.down_until_ms > _env.now_ms) {
        // Another attempt started before the address was marked down: the
        // backoff already runs.
        TLSTERM_LOG(log_level::debug, "upstream %s (%s): %s", _config.name.c_str(),
                    c.address().to_string().c_str(), cause.c_str());
    } else {
        uint32_t ceiling = std::max(max_backoff_ms, _config.pool.down_backoff_ms);
        e.backoff_ms =
            e.backoff_ms == 0 ? _config.pool.down_backoff_ms : std::min(e.backoff_ms * 2, ceiling);
        e.down_until_ms = _env.now_ms + e.backoff_ms;
        e.last_error = cause;
        TLSTERM_LOG(log_level::warn, "upstream %s (%s): %s; not tried for %u ms",
                    _config.name.c_str(), c.address().to_string().c_str(), cause.c_str(),
                    e.backoff_ms);
    }
    c.close();
    serve_waiters();
    fail_waiters_if_hopeless();
}

void pool::keep_session(const tls::session& tls) {
    if (!_tls->config().session_resumption) {
        return;
    }
    if (WOLFSSL_SESSION* s = tls.take_session()) {
        if (_resume != nullptr) {
            wolfSSL_SESSION_free(_resume);
        }
        _resume = s;
    }
}

void pool::on_resumption_refused(pooled_connection& c, const std::string& cause) {
    TLSTERM_LOG(log_level::info,
                "upstream %s (%s): %s with a resumed session offered; trying again with a full "
                "handshake",
                _config.name.c_str(), c.address().to_string().c_str(), cause.c_str());
    if (_resume != nullptr) {
        wolfSSL_SESSION_free(_resume);
        _resume = nullptr;
    }
    c.close();
    serve_waiters();
}

void pool::on_closed(pooled_connection& c) {
    using st = pooled_connection::state;
    if (c._state == st::idle) {
        std::erase(_idle, &c);
    } else if (c._state == st::switching) {
        std::erase(_switching, &c);
    } else if (c._state == st::connecting || c._state == st::handshaking) {
        --_connecting;
    }
    --_open;
}

void pool::tick() {
    while (auto* t = _handshake_timers.expired(_env.now_ms)) {
        auto* c = &t->owner();
        connection_deadlines::remove(*t);
        on_connect_failed(*c, "TLS handshake timed out");
    }
    while (auto* t = _response_timers.expired(_env.now_ms)) {
        auto* c = &t->owner();
        user* u = c->_user;
        c->detach();
        c->close();
        if (u != nullptr) {
            u->on_response_timeout();
        }
    }
    while (auto* t = _idle_timers.expired(_env.now_ms)) {
        t->owner().close();
    }
    while (!_waiters.empty() && _waiters.front().deadline_ms <= _env.now_ms) {
        user* u = _waiters.front().u;
        _waiters.pop_front();
        u->on_no_connection(503, "upstream " + _config.name + ": no connection within " +
                                     std::to_string(_config.pool.queue_timeout_ms) +
                                     " ms (queue_timeout_ms; " + std::to_string(_open) +
                                     " open, max_connections " +
                                     std::to_string(_config.pool.max_connections) + ")");
    }
    serve_waiters();
    fail_waiters_if_hopeless();
    while (_phase == phase::serving && _idle.size() + _connecting < _config.pool.min_idle &&
           _open < _config.pool.max_connections) {
        if (!open_one()) {
            break;
        }
    }
}

void pool::retire() {
    if (_phase == phase::serving) {
        _phase = phase::retired;
    }
    while (!_idle.empty()) {
        _idle.back()->close();
    }
}

void pool::drain() {
    _phase = phase::draining;
    while (!_idle.empty()) {
        _idle.back()->close();  // on_closed removes it
    }
    while (!_switching.empty()) {
        _switching.back()->close();
    }
}

}  // namespace tlsterm::upstream
