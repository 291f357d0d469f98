#include "conn/connection.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "conn/proxy_protocol.h"
#include "http/client_identity.h"
#include "tls/ciphers.h"
#include "transport/kernel_tls.h"

namespace tlsterm::conn {

namespace {

constexpr std::size_t decrypt_chunk = 16 * 1024;

}  // namespace

connection::connection(conn_env& env, std::shared_ptr<listener_runtime> listener, uint32_t slot,
                       uint32_t generation, int client_fd, const sockaddr_in6& peer,
                       const address_key& who)
    : ring_owner(true, env.ring, slot, generation),
      _env(env),
      _listener(std::move(listener)),
      _peer(peer),
      _admitted_as(who) {
    _client.attach(client_fd);
}

connection::~connection() {
    deadlines::remove(_timer);
}

std::string connection::peer() const {
    return socket_address::from(reinterpret_cast<const sockaddr*>(&_peer), sizeof(_peer))
        .to_string();
}

void connection::start() {
    _listener->gen->handshake_timers->schedule(_timer, _env.now_ms);
    _client.arm();
}

void connection::touch() {
    if (_deadline != request_deadline::none) {
        return;  // a request's deadline is not moved by traffic
    }
    if (_state == state::proxying) {
        _listener->gen->idle_timers->schedule(_timer, _env.now_ms);
    }
}

// ---- dispatch ---------------------------------------------------------------

void connection::on_completion(op kind, int res, uint32_t flags) {
    completed(flags);
    switch (kind) {
        case op::client_recv:
            on_recv(res, flags);
            break;
        case op::client_send:
            on_send(res);
            break;
        case op::client_ready:
            _client.on_ready(res, flags);
            if (_state != state::closing) {
                _client.arm();
            }
            break;
        case op::upstream_connect:
        case op::connect_timeout:
        case op::upstream_recv:
        case op::upstream_send:
        case op::upstream_ready:
        case op::to_upstream_ready:
        case op::to_upstream_fill:
        case op::to_upstream_drain:
        case op::to_client_ready:
        case op::to_client_fill:
        case op::to_client_drain:
            if (_handler) {
                _handler->on_completion(kind, res, flags);  // the pipe's socket
            }
            break;
        case op::socket_end:
        default:
            break;
    }
    if (_records_at == records::to_kernel) {
        continue_to_kernel();
    }
    if (_state == state::closing && inflight() == 0) {
        // Everything on the sockets has completed: now they may close.
        _client.release();
        if (_handler) {
            _handler->release_sockets();
        }
    }
}

void connection::on_recv(int res, uint32_t flags) {
    auto r = _client.on_recv(res, flags);
    using what = transport::stream::received::what;
    if (_state == state::closing) {
        return;
    }
    switch (r.kind) {
        case what::bytes:
            if (_records_at == records::kernel) {
                on_kernel_record(r.record_type, r.buffer.bytes());
            } else {
                on_client_data(r.buffer.bytes());
            }
            break;
        case what::end:
            on_client_eof();
            return;
        case what::error:
            if (_records_at == records::kernel) {
                on_kernel_receive_error(r.error);
            } else {
                on_socket_error("read", r.error);
            }
            return;
        case what::nothing:
            break;
    }
    if (_state == state::closing) {
        return;
    }
    if (_client.receive_handed_over()) {
        // A splice reads the socket: its handler goes on (after a record it
        // could not splice, or the last receive of the connection's).
        handler().on_client_input();
        return;
    }
    _client.arm();  // when the receive ended; a no-op while it runs or is paused
}

// A socket failed (reset, broken pipe): the other side gets a reset too.
void connection::on_socket_error(const char* what, int res) {
    if (_state == state::lingering) {
        close(*_finishing);  // the client went away after its last answer
        return;
    }
    TLSTERM_LOG(log_level::debug, "%s: client %s failed: %s", peer().c_str(), what,
                std::strerror(-res));
    close(close_reason::client_reset);  // a pipe's upstream gets a reset too
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
    if (_state == state::lingering) {
        close(*_finishing);
        return;
    }
    if (_state == state::hello || _state == state::handshaking) {
        TLSTERM_LOG(log_level::debug, "%s: client closed during the handshake", peer().c_str());
        close(close_reason::handshake_failed);
        return;
    }
    if (!_tls) {
        // Kernel records: a FIN without close_notify, passed on as the end.
        TLSTERM_LOG(log_level::debug, "%s: client closed without close_notify", peer().c_str());
        _client.stop_receiving();
        pass_input();
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
                        peer().c_str(), _listener->config->name.c_str());
            send_plain_alert(tls::alert_for(status));
            close(close_reason::not_tls);
            return;
        case tls::hello_status::unexpected:
        case tls::hello_status::record_overflow:
        case tls::hello_status::malformed:
        case tls::hello_status::too_large:
            TLSTERM_LOG(log_level::info, "%s: listener %s: %s, closing", peer().c_str(),
                        _listener->config->name.c_str(), tls::to_string(status));
            send_plain_alert(tls::alert_for(status));
            close(close_reason::bad_client_hello);
            return;
        case tls::hello_status::complete:
            break;
    }
    if (auto refused = _listener->tls->refuse(hello)) {
        TLSTERM_LOG(log_level::info, "%s: listener %s: TLS handshake refused: %s", peer().c_str(),
                    _listener->config->name.c_str(), refused->reason.c_str());
        send_plain_alert(refused->what);
        close(close_reason::handshake_failed);
        return;
    }
    if (!_env.admit.admit_server_name(hello.server_name, _env.now_ms)) {
        TLSTERM_LOG(log_level::debug,
                    "%s: listener %s: server name \"%s\" over "
                    "limits.handshake_rate_per_server_name, closing",
                    peer().c_str(), _listener->config->name.c_str(), hello.server_name.c_str());
        close(close_reason::server_name_rate);
        return;
    }
    tls::selection chosen = _listener->tls->select(hello);
    _auth_mode = chosen.auth != nullptr ? chosen.auth->mode : client_auth_mode::none;
    if (_listener->upstream->proxy_v2 || http_mode()) {
        _server_name = hello.server_name;
    }
    std::shared_ptr<const crl::store> crls;
    if (chosen.auth != nullptr && chosen.auth->mode != client_auth_mode::none) {
        crls = _listener->gen->crls.current();
    }
    _tls = tls::session::create(chosen, std::move(crls), &_env.identities);
    if (!_tls) {
        close(close_reason::out_of_memory);
        return;
    }
    _client_records.bind(*_tls);
    _client.set_records(&_client_records);
    // The hello as whole records, then whatever the client sent after it.
    _tls->cipher_in().append(hello.records);
    _tls->cipher_in().append(std::span<const uint8_t>(_hello).subspan(hello.consumed));
    std::vector<uint8_t>().swap(_hello);
    _state = state::handshaking;
    try_handshake();
}

// A fatal alert before any TLS session exists, best effort: the caller
// closes right after.
void connection::send_plain_alert(tls::alert a) {
    auto record = tls::alert_record(a);
    _client.close_with(record);
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
                        peer().c_str(), _listener->config->name.c_str(),
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
                        peer().c_str(), _listener->config->name.c_str(), _tls->error().c_str(),
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
                    peer().c_str(), _listener->config->name.c_str(), gap->c_str());
        // Still in the handshaking state: no close_notify, which would
        // tell the client its session ended cleanly.
        close(close_reason::unauthenticated);
        return;
    }
    if (const tls::client_verifier* auth = _tls->client_auth()) {
        note_client_certificate(*auth);
    }
    deadlines::remove(_timer);
    _client_records.established();  // a clean close now ends with close_notify
    _state = state::proxying;
    touch();
    if (!http_mode()) {
        if (_listener->upstream->proxy_v2) {
            queue_proxy_header();
        }
        handler();  // the pipe connects to the upstream now
    }
    if (_listener->kernel_records && _state != state::closing) {
        begin_kernel_records();
    }
    if (_state != state::closing) {
        // Application data (a request) that came with the Finished; in
        // HTTP mode the forwarder is made on the first request byte, so an
        // idle connection carries none.
        decrypt_client();
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
                    _listener->config->name.c_str(), std::string(_tls->version()).c_str(),
                    resumed ? "resumed" : "full", std::string(_tls->cipher()).c_str(),
                    _tls->hello_retried() ? ", after a HelloRetryRequest" : "", why.c_str());
    }
}

void connection::note_client_certificate(const tls::client_verifier& auth) {
    for (const auto& w : auth.warnings()) {
        _env.counters.stale_crl_accepted.fetch_add(1, std::memory_order_relaxed);
        TLSTERM_LOG(log_level::warn, "%s: listener %s: %s", peer().c_str(),
                    _listener->config->name.c_str(), w.c_str());
    }
    if (!auth.verified()) {
        return;
    }
    _env.counters.client_certs_verified.fetch_add(1, std::memory_order_relaxed);
    TLSTERM_LOG(log_level::debug, "%s: listener %s: client certificate %s serial %s verified%s",
                peer().c_str(), _listener->config->name.c_str(), auth.subject().c_str(),
                auth.serial().c_str(), auth.restored() ? " (resumed; checked again now)" : "");
    if (auth.x509_version() < 3) {
        _env.counters.x509v1_accepted.fetch_add(1, std::memory_order_relaxed);
        if (tls::first_sighting(auth.leaf_sha256())) {
            TLSTERM_LOG(log_level::warn,
                        "%s: listener %s: accepted X.509 v%d client certificate %s serial %s "
                        "(no extensions: no key usage or name constraints apply; "
                        "require_x509v3 = true refuses such certificates; logged once per "
                        "certificate)",
                        peer().c_str(), _listener->config->name.c_str(), auth.x509_version(),
                        auth.subject().c_str(), auth.serial().c_str());
        }
    }
}

void connection::queue_proxy_header() {
    sockaddr_in6 local{};
    socklen_t len = sizeof(local);
    ::getsockname(_client.fd(), reinterpret_cast<sockaddr*>(&local), &len);
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
    if (_state != state::proxying || !_tls) {
        return;
    }
    uint8_t buf[decrypt_chunk];
    const std::size_t limit = _listener->gen->limits->max_buffered_bytes;
    while (!_client.receiving_stopped() && _to_upstream.size() < limit) {
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
            _client.stop_receiving();  // the client's stream ended
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
    pass_input();
    if (_records_at == records::to_kernel && _state == state::proxying) {
        continue_to_kernel();
    }
}

// The handler hears of new plaintext (or of the client's end).
void connection::pass_input() {
    if (_handler || !_to_upstream.empty() || _client.receiving_stopped()) {
        // What the handler consumes comes back as client_input_consumed,
        // which posts the next round instead of re-entering this one.
        handler().on_client_input();
        if (_state == state::closing) {
            return;
        }
    }
    update_backpressure();
}

void connection::flush_client() {
    if (_state != state::closing) {
        _client.flush();
    }
}

// ---- kernel records (kTLS) ---------------------------------------------------------
//
// After the handshake, on a listener whose records go to the kernel: the
// ULP is attached at once (a kernel or suite that cannot take them leaves
// the connection with wolfSSL, counted), and the receive stops. What it
// still delivers, wolfSSL decrypts (it is given whole records only); what
// the handler sends meanwhile is held. Once nothing is in flight, wolfSSL
// holds no record and the input queue at most the start of one, the rest
// of that record is read exactly; then the keys and sequence numbers go to
// the kernel (TX after everything wolfSSL wrote, tickets included) and the
// WOLFSSL is freed.

void connection::begin_kernel_records() {
    if (auto attached = transport::attach_for_session(_env.kernel_tls, _client.fd(), *_tls);
        !attached) {
        stay_in_userspace(attached.error());  // a suite or a socket the kernel would not take
        return;
    }
    _records_at = records::to_kernel;
    _kernel = std::make_unique<transport::kernel_records>(_tls->tls13());
    _client.pause();  // cancels the receive: its last bytes still come, for wolfSSL
}

// The kernel would not take the records: they stay with wolfSSL, counted
// and logged (at info: a listener that asked for kernel records gets fewer
// than it was told).
void connection::stay_in_userspace(const std::string& why) {
    TLSTERM_LOG(log_level::info, "%s: listener %s: TLS records stay in userspace: %s",
                peer().c_str(), _listener->config->name.c_str(), why.c_str());
    _env.counters.ktls_fallbacks.fetch_add(1, std::memory_order_relaxed);
    if (_records_at == records::to_kernel) {
        keep_userspace_records();
    }
}

// The switch is left (the connection is ending): wolfSSL keeps the records
// and gets what was held.
void connection::keep_userspace_records() {
    _records_at = records::wolfssl;
    std::vector<uint8_t> held;
    _kernel->outgoing().move_into(held);
    _kernel.reset();
    if (!held.empty()) {
        client_send(held);
    }
    _client.resume();
    update_backpressure();
}

void connection::continue_to_kernel() {
    if (_records_at != records::to_kernel || _state != state::proxying) {
        return;
    }
    if (_client.receiving_stopped() || _client.input_ended()) {
        keep_userspace_records();  // the client's stream ended on the way
        return;
    }
    if (_client.receive_armed() || _client.backlog() != 0) {
        return;  // a receive or a send still to complete
    }
    if (_tls->input_pending()) {
        return;  // whole records or plaintext wait for the handler to consume
    }
    if (std::size_t missing = _tls->record_remainder()) {
        _client.arm_exactly(missing);  // the rest of a record, and not a byte more
        return;
    }
    hand_records_to_kernel();
}

void connection::hand_records_to_kernel() {
    if (auto installed = transport::install_session_keys(_env.kernel_tls, _client.fd(), *_tls);
        !installed) {
        if (!installed.error().no_way_back) {
            stay_in_userspace(installed.error().why);
            return;
        }
        TLSTERM_LOG(log_level::error, "%s: kernel TLS receive keys refused: %s", peer().c_str(),
                    installed.error().why.c_str());
        close(close_reason::tls_error);
        return;
    }
    if (!_handler) {
        _facts = std::make_unique<client_facts>(make_facts());
    }
    TLSTERM_LOG(log_level::debug, "%s: TLS records in the kernel (%s %s)", peer().c_str(),
                std::string(_tls->version()).c_str(), std::string(_tls->cipher()).c_str());
    _client.set_records(_kernel.get());  // with what the handler sent meanwhile
    _client_records.unbind();
    _tls.reset();  // the WOLFSSL and its buffers
    _records_at = records::kernel;
    _env.counters.ktls_connections.fetch_add(1, std::memory_order_relaxed);
    _client.resume();
    flush_client();
    update_backpressure();
    if (_handler) {
        _handler->on_client_kernel_records();
    }
}

void connection::on_kernel_record(uint8_t type, std::span<const uint8_t> bytes) {
    touch();
    if (_state != state::proxying) {
        return;  // lingering: the client's bytes are dropped
    }
    if (type == transport::record_application_data) {
        _to_upstream.append(bytes);
        _env.counters.bytes_from_client.fetch_add(bytes.size(), std::memory_order_relaxed);
        pass_input();
        return;
    }
    using what = transport::control_verdict::what;
    auto v = transport::read_control_record(type, bytes, true, _kernel->tls13());
    switch (v.kind) {
        case what::ignore:
            return;
        case what::no_renegotiation:
            TLSTERM_LOG(log_level::debug, "%s: client asked to renegotiate: no_renegotiation",
                        peer().c_str());
            _kernel->warn(tls::alert::no_renegotiation);
            flush_client();
            return;
        case what::end:
            _client.stop_receiving();  // after every byte before it
            pass_input();
            return;
        case what::key_update:
            TLSTERM_LOG(log_level::debug,
                        "%s: client sent a TLS KeyUpdate, which kernel TLS cannot follow: "
                        "closing",
                        peer().c_str());
            close(close_reason::ktls_key_update);  // close_notify under the old keys
            return;
        case what::peer_alert:
            TLSTERM_LOG(log_level::info, "%s: TLS error from client: alert %u", peer().c_str(),
                        static_cast<unsigned>(v.description));
            close(close_reason::tls_error);
            return;
        case what::refuse:
            TLSTERM_LOG(log_level::info, "%s: TLS error from client: a record of type %u refused",
                        peer().c_str(), static_cast<unsigned>(type));
            _kernel->fail(v.answer);
            close(close_reason::tls_error);
            return;
    }
}

void connection::on_kernel_receive_error(int res) {
    auto answer = transport::alert_for_receive_error(res);
    if (_state == state::lingering || !answer) {
        on_socket_error("read", res);
        return;
    }
    TLSTERM_LOG(log_level::info, "%s: TLS error from client: the kernel refused a record: %s",
                peer().c_str(), std::strerror(-res));
    _kernel->fail(*answer);
    close(close_reason::tls_error);
}

// ---- the stream handler ------------------------------------------------------------

stream_handler& connection::handler() {
    if (_handler) {
        return *_handler;
    }
    // A pipe at the end of the handshake; an HTTP forwarder on the first
    // request byte (or the client's end), so an idle connection holds no
    // parser state.
    _handler = _listener->handlers->make(*this, *_listener, _env, _to_upstream,
                                         _facts ? std::move(*_facts) : make_facts());
    _facts.reset();
    if (_listener->gen->retired) {
        _handler->retire();  // replaced since the handshake
    }
    _handler->start();
    return *_handler;
}

client_facts connection::make_facts() {
    client_facts facts;
    facts.peer = peer();
    socket_address a =
        socket_address::from(reinterpret_cast<const sockaddr*>(&_peer), sizeof(_peer));
    facts.peer_ip = a.host();
    facts.client = _admitted_as.high != 0 ? _admitted_as.high : _admitted_as.low;
    facts.server_name = std::move(_server_name);  // made once; not needed after
    const tls::client_verifier* auth = _tls->client_auth();
    facts.verifies_clients = auth != nullptr;
    identity_format format = _listener->config->http.client_identity;
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
    return facts;
}

void connection::drain() {
    if (_state != state::proxying) {
        return;
    }
    if (_handler) {
        _handler->drain();
    } else if (http_mode()) {
        client_finish(close_reason::done);  // no request has begun: a message boundary
    }
}

void connection::retire() {
    // Without a forwarder yet, the one made later reads gen->retired.
    if (_handler && _state != state::closing) {
        _handler->retire();
    }
}

void connection::client_send(std::span<const uint8_t> plaintext) {
    if (_state == state::closing || _client.write_shut()) {
        return;
    }
    if (_records_at == records::to_kernel) {
        _kernel->write(plaintext);  // the kernel encrypts it once it has the records
        return;
    }
    if (_client.records()->write(plaintext) != tls::tls_status::ok) {
        TLSTERM_LOG(log_level::error, "%s: TLS write failed: %s", peer().c_str(),
                    _tls->error().c_str());  // only wolfSSL fails a write
        close(close_reason::tls_error);
        return;
    }
    flush_client();
}

std::size_t connection::client_backlog() const {
    return _client.backlog() + (_records_at == records::to_kernel ? _kernel->outgoing().size() : 0);
}

void connection::client_finish(close_reason why) {
    if (_state == state::closing) {
        return;
    }
    _finishing = why;
    touch();
    if (_records_at == records::to_kernel) {
        keep_userspace_records();  // the connection ends: no need to move
    }
    if (client_backlog() == 0) {
        finish();
    }
}

// Everything for the client is on the socket. In HTTP mode, a client that
// may still be sending (the rest of a body the origin did not wait for,
// pipelined requests) gets close_notify and FIN, and what it sends is read
// and dropped until it closes or limits.lingering_close_ms passes: closing
// with its bytes unread would send a reset, and a reset can make the
// client's kernel discard the response before the client reads it.
void connection::finish() {
    const uint32_t linger_ms = _listener->gen->limits->lingering_close_ms;
    if (!http_mode() || _state != state::proxying || _client.input_ended() ||
        _client.receiving_stopped() || linger_ms == 0) {
        close(*_finishing);
        return;
    }
    _state = state::lingering;
    _deadline = request_deadline::none;
    _listener->gen->linger_timers->schedule(_timer, _env.now_ms);
    _client.end_write();  // close_notify, then FIN once it is sent
    _client.resume();
    _client.arm();
}

void connection::end_lingering() {
    if (_state == state::lingering) {
        close(*_finishing);
    }
}

void connection::client_abort(close_reason why) {
    _client.reset_on_close();
    close(why);
}

void connection::client_deadline(request_deadline d) {
    if (d == _deadline || _state == state::closing) {
        return;
    }
    _deadline = d;
    switch (d) {
        case request_deadline::head:
            _listener->gen->header_timers->schedule(_timer, _env.now_ms);
            break;
        case request_deadline::body:
            _listener->gen->body_timers->schedule(_timer, _env.now_ms);
            break;
        case request_deadline::none:
            touch();  // back on the idle deadline
            break;
    }
}

void connection::request_timeout() {
    _deadline = request_deadline::none;
    touch();  // the 408 below goes out under the idle deadline
    if (_handler && _state == state::proxying) {
        _handler->on_request_timeout();
    }
}

void connection::client_input_consumed() {
    if (_state != state::proxying) {
        return;
    }
    update_backpressure();
    if (_tls && !_client.receiving_stopped() && _tls->input_pending()) {
        // More records wait (in the input queue, or decrypted in wolfSSL):
        // read them once the handler has returned (it is often called from
        // inside decrypt_client).
        _env.later.post(_decrypt_later);
    }
}

void connection::client_touch() {
    touch();
}

void connection::client_end_write() {
    if (_state == state::closing) {
        return;
    }
    _client.end_write();
}

bool connection::client_write_shut() const {
    return _client.write_shut();
}

bool connection::client_input_ended() const {
    return _client.receiving_stopped();
}

runtime::ring_owner& connection::client_owner() {
    return *this;
}

int connection::client_kernel_socket() const {
    return _records_at == records::kernel && _state == state::proxying ? _client.fd() : -1;
}

void connection::client_hand_over_receive() {
    _client.hand_over_receive();
}

bool connection::client_receiving() const {
    return _client.receive_armed();
}

void connection::client_splice_stopped(int res) {
    if (_state != state::proxying) {
        return;
    }
    if (res == 0) {
        // A FIN without close_notify; the handler, which asked, goes on.
        TLSTERM_LOG(log_level::debug, "%s: client closed without close_notify", peer().c_str());
        _client.stop_receiving();
    } else if (res == -EINVAL) {
        // The record the splice cannot carry, read whole: a receive of
        // the size of the shard's buffers (a control record is small).
        _client.arm_exactly(_env.buffers.buffer_size());
    } else {
        on_kernel_receive_error(res);
    }
}

void connection::client_splicing_out(bool busy) {
    if (_state == state::closing) {
        return;
    }
    _client.spliced_send(busy);
}

// ---- sends, backpressure ----------------------------------------------------------

void connection::on_send(int res) {
    auto r = _client.on_send(res);
    if (_state == state::closing) {
        return;
    }
    if (r.error != 0) {
        on_socket_error("send", r.error);
        return;
    }
    touch();
    if (!r.done) {
        return;  // the rest of the bytes went out again
    }
    flush_client();  // what was queued meanwhile; a pending FIN
    if (_state == state::lingering) {
        return;
    }
    if (_finishing && client_backlog() == 0) {
        finish();
        return;
    }
    update_backpressure();
    if (_handler) {
        _handler->on_client_drained();
    }
}

void connection::update_backpressure() {
    if (_state != state::proxying || _records_at == records::to_kernel) {
        return;  // moving to the kernel: receiving waits for the boundary
    }
    // Toward the upstream: plaintext queued + taken by the handler and not
    // yet delivered + undecrypted input. (Toward the client, the handler
    // pauses its own side: client_backlog().)
    const std::size_t limit = _listener->gen->limits->max_buffered_bytes;
    std::size_t up = _to_upstream.size() + (_handler ? _handler->backlog() : 0) +
                     (_tls ? _tls->cipher_in().size() : 0);
    if (!_client.paused() && up >= limit) {
        _client.pause();
    } else if (_client.paused() && up <= limit / 2) {
        _client.resume();
    }
}

// ---- closing ----------------------------------------------------------------------

void connection::tell_handler_closing() {
    // A broken client makes the pipe reset its upstream.
    _handler->on_client_closing(_closed_as == close_reason::client_reset);
}

void connection::close(close_reason reason) {
    if (_state == state::closing) {
        return;
    }
    if (_handler) {
        // Out of the pool's queue, off any upstream connection, after this
        // call. The close's cancel is in flight until then, so the
        // connection (and its handler) outlive the task.
        _closed_as = reason;
        _env.later.post(_closing_later);
    }
    _state = state::closing;
    _env.counters.count(reason);
    deadlines::remove(_timer);
    if (reason != close_reason::done) {
        TLSTERM_LOG(log_level::debug, "%s: closed: %s", peer().c_str(),
                    std::string(to_string(reason)).c_str());
    }
    // The record layer says what goes out last: a handshake's pending
    // alert, a close_notify after a clean end of an established session,
    // never a close_notify after an error (the client would take a broken
    // stream for a complete one).
    _client.close(reason != close_reason::tls_error);
}

}  // namespace tlsterm::conn
