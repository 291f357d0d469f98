#include "conn/connection.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "conn/proxy_protocol.h"
#include "http/client_identity.h"
#include "tls/ciphers.h"

namespace tlsterm::conn {

namespace {

constexpr std::size_t decrypt_chunk = 16 * 1024;

void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// A reset is passed on as a reset: close with SO_LINGER {on, 0} sends RST.
void set_abortive_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

}  // namespace

connection::connection(conn_env& env, listener_runtime& listener, uint32_t slot,
                       uint32_t generation, int client_fd, const sockaddr_in6& peer,
                       const address_key& who)
    : ring_owner(true, env.ring, slot, generation),
      _env(env),
      _listener(listener),
      _client_fd(client_fd),
      _peer(peer),
      _admitted_as(who) {}

connection::~connection() {
    deadlines::remove(_timer);
    if (_client_fd >= 0) {
        ::close(_client_fd);
    }
    if (_upstream_fd >= 0) {
        ::close(_upstream_fd);
    }
}

std::string connection::peer() const {
    return socket_address::from(reinterpret_cast<const sockaddr*>(&_peer), sizeof(_peer))
        .to_string();
}

void connection::start() {
    set_nodelay(_client_fd);
    _listener.gen->handshake_timers->schedule(_timer, _env.now_ms);
    arm_recv(_client_fd, op::client_recv);
}

void connection::arm_recv(int fd, op kind) {
    ring_owner::arm_recv(_env.buffers, fd, kind);
    (kind == op::client_recv ? _client_recv_armed : _upstream_recv_armed) = true;
}

void connection::touch() {
    if (_deadline != proxy::request_deadline::none) {
        return;  // a request's deadline is not moved by traffic
    }
    if (_state == state::connecting || _state == state::proxying) {
        _listener.gen->idle_timers->schedule(_timer, _env.now_ms);
    }
}

// ---- dispatch ---------------------------------------------------------------

void connection::on_completion(op kind, int res, uint32_t flags) {
    completed(flags);
    switch (kind) {
        case op::client_recv:
        case op::upstream_recv:
            on_recv(kind, res, flags);
            break;
        case op::client_send:
        case op::upstream_send:
            on_send(kind, res);
            break;
        case op::upstream_connect:
            on_connect(res);
            break;
        case op::connect_timeout:
        case op::cancel:
        default:
            break;
    }
}

void connection::on_recv(op kind, int res, uint32_t flags) {
    bool client = kind == op::client_recv;
    bool final = (flags & IORING_CQE_F_MORE) == 0;
    if (final) {
        (client ? _client_recv_armed : _upstream_recv_armed) = false;
    }
    if (res > 0) {
        // The buffer is ours until `held` goes out of scope: its bytes are
        // copied into TLS (either direction) before that.
        _env.buffers.taken();
        runtime::buffer_handle held(&_env.buffers,
                                    static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                                    static_cast<uint32_t>(res));
        if (_state != state::closing) {
            client ? on_client_data(held.bytes()) : on_upstream_data(held.bytes());
        }
    } else if (res == 0) {
        if (_state != state::closing) {
            client ? on_client_eof() : on_upstream_eof();
        }
        return;
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        // -ENOBUFS: the buffer ring ran dry for a moment; re-arm below.
        // -ECANCELED: paused for backpressure, or closing.
        if (_state != state::closing) {
            on_socket_error(client, "read", res);
        }
        return;
    }
    if (final && _state != state::closing) {
        if (client && !_client_eof && _client_read_open && !_client_recv_paused &&
            !_client_recv_armed) {
            arm_recv(_client_fd, op::client_recv);
        } else if (!client && _upstream_read_open && !_upstream_recv_paused &&
                   !_upstream_recv_armed) {
            arm_recv(_upstream_fd, op::upstream_recv);
        }
    }
}

// A socket failed (reset, broken pipe): the other side gets a reset too.
void connection::on_socket_error(bool client, const char* what, int res) {
    if (_state == state::lingering) {
        close(_finish_reason);  // the client went away after its last answer
        return;
    }
    TLSTERM_LOG(log_level::debug, "%s: %s %s failed: %s", peer().c_str(),
                client ? "client" : "upstream", what, std::strerror(-res));
    if (client) {
        _reset_upstream = true;
        close(close_reason::client_reset);
    } else {
        _reset_client = true;
        close(close_reason::upstream_reset);
    }
}

// ---- client side --------------------------------------------------------------

void connection::on_client_data(std::span<const uint8_t> bytes) {
    touch();
    switch (_state) {
        case state::hello:
            _hello.insert(_hello.end(), bytes.begin(), bytes.end());
            try_hello();
            break;
        case state::handshaking:
            _tls->cipher_in().append(bytes);
            try_handshake();
            break;
        case state::connecting:
        case state::proxying:
            _tls->cipher_in().append(bytes);
            decrypt_client();
            break;
        case state::lingering:  // the connection has given its last answer
        case state::closing:
            break;
    }
}

void connection::on_client_eof() {
    _client_eof = true;
    if (_state == state::lingering) {
        close(_finish_reason);
        return;
    }
    if (_state == state::hello || _state == state::handshaking) {
        TLSTERM_LOG(log_level::debug, "%s: client closed during the handshake", peer().c_str());
        close(close_reason::handshake_failed);
        return;
    }
    _tls->set_transport_eof();
    decrypt_client();
}

void connection::try_hello() {
    tls::client_hello hello;
    auto status = tls::parse_client_hello(_hello, hello);
    switch (status) {
        case tls::hello_status::need_more:
            return;
        case tls::hello_status::not_tls:
            TLSTERM_LOG(log_level::info, "%s: listener %s: not a TLS ClientHello, closing",
                        peer().c_str(), _listener.config->name.c_str());
            send_plain_alert(tls::alert_for(status));
            close(close_reason::not_tls);
            return;
        case tls::hello_status::unexpected:
        case tls::hello_status::record_overflow:
        case tls::hello_status::malformed:
        case tls::hello_status::too_large:
            TLSTERM_LOG(log_level::info, "%s: listener %s: %s, closing", peer().c_str(),
                        _listener.config->name.c_str(), tls::to_string(status));
            send_plain_alert(tls::alert_for(status));
            close(close_reason::bad_client_hello);
            return;
        case tls::hello_status::complete:
            break;
    }
    if (auto refused = _listener.tls->refuse(hello)) {
        TLSTERM_LOG(log_level::info, "%s: listener %s: TLS handshake refused: %s", peer().c_str(),
                    _listener.config->name.c_str(), refused->reason.c_str());
        send_plain_alert(refused->what);
        close(close_reason::handshake_failed);
        return;
    }
    if (!_env.admit.admit_server_name(hello.server_name, _env.now_ms)) {
        TLSTERM_LOG(log_level::debug,
                    "%s: listener %s: server name \"%s\" over "
                    "limits.handshake_rate_per_server_name, closing",
                    peer().c_str(), _listener.config->name.c_str(), hello.server_name.c_str());
        close(close_reason::server_name_rate);
        return;
    }
    tls::selection chosen = _listener.tls->select(hello);
    _auth_mode = chosen.auth != nullptr ? chosen.auth->mode : client_auth_mode::none;
    if (_listener.upstream->proxy_v2 || _listener.config->mode == listener_mode::http) {
        _server_name = hello.server_name;
    }
    std::shared_ptr<const crl::store> crls;
    if (chosen.auth != nullptr && chosen.auth->mode != client_auth_mode::none) {
        crls = _listener.gen->crls.current();
    }
    _tls = tls::session::create(chosen, std::move(crls), &_env.identities);
    if (!_tls) {
        close(close_reason::out_of_memory);
        return;
    }
    // The hello as whole records, then whatever the client sent after it.
    _tls->cipher_in().append(hello.records);
    _tls->cipher_in().append(std::span<const uint8_t>(_hello).subspan(hello.consumed));
    std::vector<uint8_t>().swap(_hello);
    _state = state::handshaking;
    try_handshake();
}

// A fatal alert before any TLS session exists, best effort: the socket
// closes right after (as close() writes its last words).
void connection::send_plain_alert(tls::alert a) {
    auto record = tls::alert_record(a);
    send_last_words(record);
}

// Best effort, written directly: the socket is about to close.
void connection::send_last_words(std::span<const uint8_t> bytes) {
    ssize_t n = ::send(_client_fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
}

void connection::try_handshake() {
    auto status = _tls->handshake();
    if (status == tls::tls_status::failed) {
        count_ticket_refusal();
        const tls::client_verifier* auth = _tls->client_auth();
        if (auth != nullptr && auth->rejected()) {
            const auto& r = *auth->rejected();
            _env.counters.cert_rejected[static_cast<std::size_t>(r.reason)].fetch_add(
                1, std::memory_order_relaxed);
            TLSTERM_LOG(log_level::info, "%s: listener %s: client certificate rejected (%s): %s",
                        peer().c_str(), _listener.config->name.c_str(),
                        std::string(to_string(r.reason)).c_str(), r.detail.c_str());
        } else {
            // Refused by wolfSSL after tlsterm's callback accepted the
            // certificate (e.g. a CertificateVerify that does not verify):
            // still name it.
            std::string cert;
            if (auth != nullptr && auth->identity() && !auth->identity()->chain.empty()) {
                cert = "; client certificate " +
                       tls::describe_certificate(auth->identity()->chain.front());
            }
            TLSTERM_LOG(log_level::info, "%s: listener %s: TLS handshake failed: %s%s",
                        peer().c_str(), _listener.config->name.c_str(), _tls->error().c_str(),
                        cert.c_str());
        }
        close(close_reason::handshake_failed);  // sends the pending alert
        return;
    }
    flush_client();
    if (status == tls::tls_status::want_read) {
        return;
    }
    _env.counters.handshakes.fetch_add(1, std::memory_order_relaxed);
    note_resumption();
    // tlsterm's own verdict, whatever wolfSSL did: nothing reaches an
    // upstream from a connection its policy does not authenticate.
    if (auto gap = tls::authentication_gap(_auth_mode, _tls->client_auth(), _tls->resumed())) {
        TLSTERM_LOG(log_level::warn, "%s: listener %s: closing an unauthenticated connection: %s",
                    peer().c_str(), _listener.config->name.c_str(), gap->c_str());
        // Still in the handshaking state: no close_notify, which would
        // tell the client its session ended cleanly.
        close(close_reason::unauthenticated);
        return;
    }
    if (const tls::client_verifier* auth = _tls->client_auth()) {
        note_client_certificate(*auth);
    }
    deadlines::remove(_timer);
    if (http_mode()) {
        // The forwarder is made on the first request byte: an idle
        // connection carries none.
        _state = state::proxying;
        touch();
        decrypt_client();  // a request that came with the Finished
        return;
    }
    if (_listener.upstream->proxy_v2) {
        queue_proxy_header();
    }
    _state = state::connecting;
    touch();
    connect_upstream();
    if (_state != state::closing) {
        decrypt_client();  // application data that came with the Finished
    }
}

void connection::count_ticket_refusal() {
    if (const auto& refused = _tls->ticket_refused()) {
        _env.counters.tickets_refused[static_cast<std::size_t>(*refused)].fetch_add(
            1, std::memory_order_relaxed);
    }
}

void connection::note_resumption() {
    bool resumed = _tls->resumed();
    if (resumed) {
        _env.counters.resumed.fetch_add(1, std::memory_order_relaxed);
    }
    if (_tls->hello_retried()) {
        _env.counters.hello_retries.fetch_add(1, std::memory_order_relaxed);
    }
    if (unsigned n = _tls->tickets_issued(); n != 0) {
        _env.counters.tickets_issued.fetch_add(n, std::memory_order_relaxed);
    }
    count_ticket_refusal();
    const auto& refused = _tls->ticket_refused();
    if (log::enabled(log_level::debug)) {
        std::string why;
        if (refused) {
            why = "; ticket refused (" + std::string(to_string(*refused)) + ")";
            if (!_tls->ticket_refusal_detail().empty()) {
                why += ": " + _tls->ticket_refusal_detail();
            }
        }
        TLSTERM_LOG(log_level::debug, "%s: listener %s: %s %s handshake, %s%s%s", peer().c_str(),
                    _listener.config->name.c_str(), std::string(_tls->version()).c_str(),
                    resumed ? "resumed" : "full", std::string(_tls->cipher()).c_str(),
                    _tls->hello_retried() ? ", after a HelloRetryRequest" : "", why.c_str());
    }
}

void connection::note_client_certificate(const tls::client_verifier& auth) {
    for (const auto& w : auth.warnings()) {
        _env.counters.stale_crl_accepted.fetch_add(1, std::memory_order_relaxed);
        TLSTERM_LOG(log_level::warn, "%s: listener %s: %s", peer().c_str(),
                    _listener.config->name.c_str(), w.c_str());
    }
    if (!auth.verified()) {
        return;
    }
    _env.counters.client_certs_verified.fetch_add(1, std::memory_order_relaxed);
    TLSTERM_LOG(log_level::debug, "%s: listener %s: client certificate %s serial %s verified%s",
                peer().c_str(), _listener.config->name.c_str(), auth.subject().c_str(),
                auth.serial().c_str(), auth.restored() ? " (resumed; checked again now)" : "");
    if (auth.x509_version() < 3) {
        _env.counters.x509v1_accepted.fetch_add(1, std::memory_order_relaxed);
        if (tls::first_sighting(auth.leaf_sha256())) {
            TLSTERM_LOG(log_level::warn,
                        "%s: listener %s: accepted X.509 v%d client certificate %s serial %s "
                        "(no extensions: no key usage or name constraints apply; "
                        "require_x509v3 = true refuses such certificates; logged once per "
                        "certificate)",
                        peer().c_str(), _listener.config->name.c_str(), auth.x509_version(),
                        auth.subject().c_str(), auth.serial().c_str());
        }
    }
}

void connection::queue_proxy_header() {
    sockaddr_in6 local{};
    socklen_t len = sizeof(local);
    ::getsockname(_client_fd, reinterpret_cast<sockaddr*>(&local), &len);
    conn::proxy_v2_info info;
    info.source = reinterpret_cast<const sockaddr*>(&_peer);
    info.destination = reinterpret_cast<const sockaddr*>(&local);
    info.alpn = _tls->alpn();
    info.server_name = _server_name;
    info.tls_version = _tls->version();
    info.cipher = tls::standard_cipher_name(_tls->cipher());
    if (const tls::client_verifier* auth = _tls->client_auth()) {
        // Past authentication_gap: presented means verified.
        info.cert_presented = auth->presented();
        info.cert_verified = auth->verified();
        info.common_name = auth->common_name();  // empty unless verified
        info.resumed = auth->restored();
    }
    _to_upstream.append(encode_proxy_v2(info));
}

void connection::decrypt_client() {
    if (_state != state::connecting && _state != state::proxying) {
        return;
    }
    uint8_t buf[decrypt_chunk];
    const std::size_t limit = _listener.gen->limits->max_buffered_bytes;
    while (_client_read_open && _to_upstream.size() < limit) {
        auto r = _tls->read(buf);
        if (r.status == tls::tls_status::ok) {
            _to_upstream.append(std::span<const uint8_t>(buf, r.bytes));
            _env.counters.bytes_from_client.fetch_add(r.bytes, std::memory_order_relaxed);
            continue;
        }
        if (r.status == tls::tls_status::want_read) {
            break;
        }
        if (r.status == tls::tls_status::closed) {
            _client_read_open = false;
            if (_tls->truncated()) {
                TLSTERM_LOG(log_level::debug, "%s: client closed without close_notify",
                            peer().c_str());
            }
            break;
        }
        TLSTERM_LOG(log_level::info, "%s: TLS error from client: %s", peer().c_str(),
                    _tls->error().c_str());
        close(close_reason::tls_error);
        return;
    }
    flush_client();  // post-handshake messages (e.g. KeyUpdate replies)
    if (http_mode()) {
        if (!_http && (!_to_upstream.empty() || !_client_read_open)) {
            make_forwarder();
        }
        if (_http) {
            // What it consumes comes back as client_input_consumed, which
            // posts the next round instead of re-entering this one.
            _http->on_client_input(!_client_read_open);
            if (_state == state::closing) {
                return;
            }
        }
        update_backpressure();
        return;
    }
    flush_upstream();
    update_backpressure();
    maybe_half_close();
}

void connection::flush_client() {
    if (_client_send.in_flight || _client_write_shut || !_tls || _state == state::closing) {
        return;
    }
    if (_tls->cipher_out().empty()) {
        return;
    }
    _tls->cipher_out().move_into(_client_send.data);
    _client_send.offset = 0;
    _client_send.in_flight = true;
    io_uring_sqe* s = sqe(op::client_send);
    io_uring_prep_send(s, _client_fd, _client_send.data.data(), _client_send.data.size(),
                       MSG_NOSIGNAL);
}

// ---- HTTP mode ------------------------------------------------------------------

void connection::make_forwarder() {
    proxy::client_facts facts;
    facts.peer = peer();
    socket_address a =
        socket_address::from(reinterpret_cast<const sockaddr*>(&_peer), sizeof(_peer));
    facts.peer_ip = a.host();
    facts.server_name = _server_name;
    const tls::client_verifier* auth = _tls->client_auth();
    facts.verifies_clients = auth != nullptr;
    identity_format format = _listener.config->http.client_identity;
    if (format != identity_format::none) {
        http::client_identity id;
        if (auth != nullptr) {
            // Only the chain tlsterm verified (in this handshake, or in the
            // one that issued the resumed ticket): its own copy.
            id.presented = auth->presented();
            const auto& verified = auth->identity();
            id.verified = auth->verified() && verified && !verified->chain.empty();
            if (id.verified) {
                id.leaf_der = verified->chain.front();
                for (std::size_t i = 1; i < verified->chain.size(); ++i) {
                    id.chain_der.emplace_back(verified->chain[i]);
                }
            }
        }
        for (const auto& h : http::identity_headers(format, id)) {
            facts.identity += h.name + ": " + h.value + "\r\n";
        }
    }
    _http = std::make_unique<proxy::http_forwarder>(*this, _listener, _env, _to_upstream,
                                                    std::move(facts));
    if (_listener.gen->retired) {
        _http->retire();  // replaced before the first request
    }
}

void connection::drain() {
    if (_state != state::proxying || !http_mode()) {
        return;
    }
    if (_http) {
        _http->drain();
    } else {
        client_finish(close_reason::done);  // no request has begun: a message boundary
    }
}

void connection::retire() {
    // Without a forwarder yet, the one made later reads gen->retired.
    if (_http && _state != state::closing) {
        _http->retire();
    }
}

void connection::client_send(std::span<const uint8_t> plaintext) {
    if (_state == state::closing || _client_write_shut) {
        return;
    }
    if (_tls->write(plaintext) != tls::tls_status::ok) {
        TLSTERM_LOG(log_level::error, "%s: TLS write failed: %s", peer().c_str(),
                    _tls->error().c_str());
        close(close_reason::tls_error);
        return;
    }
    flush_client();
}

std::size_t connection::client_backlog() const {
    if (!_tls) {
        return 0;
    }
    return _tls->cipher_out().size() + (_client_send.data.size() - _client_send.offset);
}

void connection::client_finish(close_reason why) {
    if (_state == state::closing) {
        return;
    }
    _finish_pending = true;
    _finish_reason = why;
    touch();
    if (!_client_send.in_flight && _tls->cipher_out().empty()) {
        finish_http();
    }
}

// The last response is on the socket. A client that may still be sending
// (the rest of a body the origin did not wait for, pipelined requests)
// gets close_notify and FIN, and what it sends is read and dropped until it
// closes or limits.lingering_close_ms passes: closing with its bytes
// unread would send a reset, and a reset can make the client's kernel
// discard the response before the client reads it.
void connection::finish_http() {
    const uint32_t linger_ms = _listener.gen->limits->lingering_close_ms;
    if (_client_eof || !_client_read_open || linger_ms == 0) {
        close(_finish_reason);
        return;
    }
    _state = state::lingering;
    _deadline = proxy::request_deadline::none;
    _listener.gen->linger_timers->schedule(_timer, _env.now_ms);
    _close_notify_queued = true;
    _tls->send_close_notify();
    flush_client();  // its completion sends the FIN
    _client_recv_paused = false;
    if (!_client_recv_armed) {
        arm_recv(_client_fd, op::client_recv);
    }
}

void connection::end_lingering() {
    if (_state == state::lingering) {
        close(_finish_reason);
    }
}

void connection::client_abort(close_reason why) {
    _reset_client = true;
    close(why);
}

void connection::client_deadline(proxy::request_deadline d) {
    if (d == _deadline || _state == state::closing) {
        return;
    }
    _deadline = d;
    switch (d) {
        case proxy::request_deadline::head:
            _listener.gen->header_timers->schedule(_timer, _env.now_ms);
            break;
        case proxy::request_deadline::body:
            _listener.gen->body_timers->schedule(_timer, _env.now_ms);
            break;
        case proxy::request_deadline::none:
            touch();  // back on the idle deadline
            break;
    }
}

void connection::request_timeout() {
    _deadline = proxy::request_deadline::none;
    touch();  // the 408 below goes out under the idle deadline
    if (_http && _state != state::closing) {
        _http->on_request_timeout();
    }
}

void connection::client_input_consumed() {
    if (_state == state::closing) {
        return;
    }
    update_backpressure();
    if (_tls->input_pending() && _client_read_open) {
        _env.later.post(_decrypt_later);  // after the call that consumed it
    }
}

// ---- upstream side --------------------------------------------------------------

void connection::connect_upstream() {
    const auto& addresses = _listener.upstream->addresses;
    if (_connect_attempts >= addresses.size()) {
        TLSTERM_LOG(log_level::warn,
                    "%s: listener %s: upstream %s is down (no address accepted a connection), "
                    "closing the client",
                    peer().c_str(), _listener.config->name.c_str(),
                    _listener.upstream->name.c_str());
        close(close_reason::upstream_down);
        return;
    }
    const socket_address& a = addresses[_listener.next_address++ % addresses.size()];
    _upstream_address = &a;
    ++_connect_attempts;
    _upstream_fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (_upstream_fd < 0) {
        int err = errno;
        TLSTERM_LOG(log_level::error, "%s: socket() for upstream %s: %s", peer().c_str(),
                    a.to_string().c_str(), std::strerror(err));
        close(err == EMFILE || err == ENFILE ? close_reason::out_of_descriptors
                                             : close_reason::upstream_down);
        return;
    }
    connect(_upstream_fd, a, _listener.upstream->connect_timeout_ms, _connect_timeout);
}

void connection::on_connect(int res) {
    if (_state == state::closing) {
        return;
    }
    if (res == 0) {
        _env.counters.upstream_connects.fetch_add(1, std::memory_order_relaxed);
        set_nodelay(_upstream_fd);
        _state = state::proxying;
        arm_recv(_upstream_fd, op::upstream_recv);
        flush_upstream();
        maybe_half_close();
        return;
    }
    _env.counters.upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
    TLSTERM_LOG(log_level::warn, "%s: upstream %s (%s): connect failed: %s", peer().c_str(),
                _listener.upstream->name.c_str(), _upstream_address->to_string().c_str(),
                res == -ECANCELED ? "timed out" : std::strerror(-res));
    ::close(_upstream_fd);
    _upstream_fd = -1;
    connect_upstream();
}

void connection::on_upstream_data(std::span<const uint8_t> bytes) {
    touch();
    _env.counters.bytes_from_upstream.fetch_add(bytes.size(), std::memory_order_relaxed);
    client_send(bytes);
    update_backpressure();  // a no-op once a failed write closed the connection
}

void connection::on_upstream_eof() {
    _upstream_read_open = false;
    maybe_half_close();
}

void connection::flush_upstream() {
    if (_state != state::proxying || _upstream_send.in_flight || _upstream_write_shut ||
        _to_upstream.empty()) {
        return;
    }
    _to_upstream.move_into(_upstream_send.data);
    _upstream_send.offset = 0;
    _upstream_send.in_flight = true;
    io_uring_sqe* s = sqe(op::upstream_send);
    io_uring_prep_send(s, _upstream_fd, _upstream_send.data.data(), _upstream_send.data.size(),
                       MSG_NOSIGNAL);
}

// ---- sends, backpressure, half-close ------------------------------------------------

void connection::on_send(op kind, int res) {
    bool client = kind == op::client_send;
    send_slot& slot = client ? _client_send : _upstream_send;
    slot.in_flight = false;
    if (_state == state::closing) {
        return;
    }
    if (res < 0) {
        on_socket_error(client, "send", res);
        return;
    }
    touch();
    slot.offset += static_cast<std::size_t>(res);
    if (slot.offset < slot.data.size()) {
        slot.in_flight = true;
        io_uring_sqe* s = sqe(kind);
        io_uring_prep_send(s, client ? _client_fd : _upstream_fd, slot.data.data() + slot.offset,
                           slot.data.size() - slot.offset, MSG_NOSIGNAL);
        return;
    }
    std::vector<uint8_t>().swap(slot.data);  // an idle connection keeps no send buffer
    slot.offset = 0;
    if (client && _state == state::lingering) {
        if (!_client_write_shut) {
            ::shutdown(_client_fd, SHUT_WR);  // after the close_notify
            _client_write_shut = true;
        }
        return;
    }
    if (client && http_mode()) {
        flush_client();
        if (_finish_pending && !_client_send.in_flight && _tls->cipher_out().empty()) {
            finish_http();
            return;
        }
        if (_http) {
            _http->on_client_drained();
        }
        return;
    }
    if (client) {
        flush_client();
        update_backpressure();
        maybe_half_close();
    } else {
        flush_upstream();
        decrypt_client();  // resumes what backpressure held back
    }
}

void connection::update_backpressure() {
    if (_state == state::closing || !_tls) {
        return;
    }
    const std::size_t limit = _listener.gen->limits->max_buffered_bytes;
    // Toward the upstream: plaintext queued + in flight + undecrypted input.
    std::size_t up = _to_upstream.size() + (_upstream_send.data.size() - _upstream_send.offset) +
                     _tls->cipher_in().size();
    // Toward the client: ciphertext queued + in flight.
    std::size_t down = _tls->cipher_out().size() + (_client_send.data.size() - _client_send.offset);

    if (!_client_recv_paused && up >= limit) {
        _client_recv_paused = true;
        if (_client_recv_armed) {
            io_uring_prep_cancel64(sqe(op::cancel), id(op::client_recv), 0);
        }
    } else if (_client_recv_paused && up <= limit / 2) {
        _client_recv_paused = false;
        if (!_client_recv_armed && _client_read_open && !_client_eof) {
            arm_recv(_client_fd, op::client_recv);
        }
    }
    if (_upstream_fd < 0 || _state != state::proxying) {
        return;
    }
    if (!_upstream_recv_paused && down >= limit) {
        _upstream_recv_paused = true;
        if (_upstream_recv_armed) {
            io_uring_prep_cancel64(sqe(op::cancel), id(op::upstream_recv), 0);
        }
    } else if (_upstream_recv_paused && down <= limit / 2) {
        _upstream_recv_paused = false;
        if (!_upstream_recv_armed && _upstream_read_open) {
            arm_recv(_upstream_fd, op::upstream_recv);
        }
    }
}

void connection::maybe_half_close() {
    if (_state != state::proxying) {
        return;
    }
    // Client -> upstream finished: the client closed and everything it sent
    // was delivered. Pass the end on as a FIN.
    if (!_client_read_open && !_upstream_write_shut && _to_upstream.empty() &&
        !_upstream_send.in_flight) {
        ::shutdown(_upstream_fd, SHUT_WR);
        _upstream_write_shut = true;
    }
    // Upstream -> client finished: close_notify, then FIN once it is sent.
    if (!_upstream_read_open && !_client_write_shut) {
        if (!_close_notify_queued) {
            _close_notify_queued = true;
            _tls->send_close_notify();
            flush_client();
        }
        if (_tls->cipher_out().empty() && !_client_send.in_flight) {
            ::shutdown(_client_fd, SHUT_WR);
            _client_write_shut = true;
        }
    }
    if (_upstream_write_shut && _client_write_shut) {
        close(close_reason::done);
    }
}

// ---- closing ----------------------------------------------------------------------

void connection::close(close_reason reason) {
    if (_state == state::closing) {
        return;
    }
    if (_http) {
        _http->abort();  // out of the pool's queue, off any upstream connection
    }
    bool handshaken = _state == state::connecting || _state == state::proxying;
    _state = state::closing;
    _env.counters.count(reason);
    deadlines::remove(_timer);

    // Last words to the client, written directly when no send is in flight
    // (a queued send would interleave): the alert of a failed handshake or
    // of a record-layer error (wolfSSL queues it), or a close_notify for a
    // clean close after the handshake. Never a close_notify after an error:
    // the client would take a broken stream for a complete one.
    bool clean = reason != close_reason::tls_error;
    if (_tls && !_client_send.in_flight && !_client_write_shut && !_reset_client) {
        if (handshaken && clean && !_close_notify_queued) {
            _close_notify_queued = true;
            _tls->send_close_notify();
        }
        if (auto pending = _tls->cipher_out().readable(); !pending.empty()) {
            send_last_words(pending);
        }
    }
    if (_reset_client) {
        set_abortive_close(_client_fd);
    }
    if (_reset_upstream && _upstream_fd >= 0) {
        set_abortive_close(_upstream_fd);
    }
    if (reason != close_reason::done) {
        TLSTERM_LOG(log_level::debug, "%s: closed: %s", peer().c_str(),
                    std::string(to_string(reason)).c_str());
    }
    io_uring_prep_cancel_fd(sqe(op::cancel), _client_fd, IORING_ASYNC_CANCEL_ALL);
    if (_upstream_fd >= 0) {
        io_uring_prep_cancel_fd(sqe(op::cancel), _upstream_fd, IORING_ASYNC_CANCEL_ALL);
    }
}

}  // namespace tlsterm::conn
