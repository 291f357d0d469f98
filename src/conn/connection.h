// One client connection, driven by io_uring completions: an explicit state
// machine with one dispatch point.
//
//   tcp mode:  hello -> handshaking -> connecting -> proxying -> (closing)
//   http mode: hello -> handshaking -> proxying -> (lingering) -> (closing)
//
// lingering: the last response, close_notify and FIN are out; what the
// client still sends is dropped until it closes or lingering_close_ms ends.
//
// In tcp mode the connection owns its one upstream socket and pipes bytes.
// In http mode a proxy::http_forwarder reads the decrypted input queue and
// borrows pooled upstream connections (upstream/pool.h) per request; the
// connection encrypts what the forwarder sends back (proxy::client_side).
//
// Ownership and lifetime:
//  - The shard owns connections in a slot table (runtime/slot_table.h); every
//    SQE a connection submits carries op_id{slot, generation, op}, and
//    ring_owner counts those whose final completion has not arrived.
//  - close() cancels everything on both sockets; the shard frees the slot
//    only when finished() (closing and nothing in flight), so no completion
//    can outlive the memory it refers to.
//  - Buffers that an in-flight send points into are never touched until that
//    send completes: new bytes go to a separate pending queue.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "common/byte_queue.h"
#include "conn/env.h"
#include "crl/manager.h"
#include "proxy/http_forwarder.h"
#include "runtime/buffer_ring.h"
#include "runtime/deadline_list.h"
#include "runtime/deferred.h"
#include "runtime/op_id.h"
#include "runtime/ring.h"
#include "runtime/slot_table.h"
#include "tls/server_context.h"
#include "tls/session.h"

namespace tlsterm::conn {

class connection final : public runtime::ring_owner, public proxy::client_side {
  public:
    using op = runtime::op;

    // `peer` and `who`: the client's address as accepted and as admission
    // counted it (released with the connection).
    connection(conn_env& env, listener_runtime& listener, uint32_t slot, uint32_t generation,
               int client_fd, const sockaddr_in6& peer, const address_key& who);
    ~connection() override;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void start();
    void on_completion(op kind, int res, uint32_t flags) override;
    // The shard is draining: an HTTP-mode connection closes at its next
    // message boundary (a byte pipe runs until either side ends it).
    void drain();
    // Its configuration generation was replaced: an HTTP-mode connection
    // ends after its next response (Connection: close).
    void retire();
    generation_view& generation() const { return *_listener.gen; }
    // Closes with `reason` (no-op when already closing).
    void close(close_reason reason);
    bool finished() const override { return _state == state::closing && inflight() == 0; }

    runtime::deadline_link<connection>& timer() { return _timer; }
    const address_key& admitted_as() const { return _admitted_as; }
    bool handshake_done() const { return _state == state::connecting || _state == state::proxying; }

    // proxy::client_side (HTTP mode); client_send also carries the tcp pipe's upstream bytes
    void client_send(std::span<const uint8_t> plaintext) override;
    std::size_t client_backlog() const override;
    void client_finish(close_reason why) override;
    void client_abort(close_reason why) override;
    void client_input_consumed() override;
    void client_deadline(proxy::request_deadline d) override;
    // The request deadline passed (shard tick).
    void request_timeout();
    // limits.lingering_close_ms passed since the last response (shard tick).
    void end_lingering();

  private:
    enum class state : uint8_t { hello, handshaking, connecting, proxying, lingering, closing };

    // An in-flight send's bytes, stable until its completion.
    struct send_slot {
        std::vector<uint8_t> data;
        std::size_t offset = 0;
        bool in_flight = false;
    };

    void arm_recv(int fd, op kind);
    void on_client_data(std::span<const uint8_t> bytes);
    void on_client_eof();
    void on_upstream_data(std::span<const uint8_t> bytes);
    void on_upstream_eof();
    void on_recv(op kind, int res, uint32_t flags);
    void on_socket_error(bool client, const char* what, int res);

    void try_hello();
    void send_plain_alert(tls::alert a);
    void send_last_words(std::span<const uint8_t> bytes);
    void try_handshake();
    void note_resumption();
    void count_ticket_refusal();
    void note_client_certificate(const tls::client_verifier& auth);
    void queue_proxy_header();
    void make_forwarder();
    bool http_mode() const { return _listener.config->mode == listener_mode::http; }
    void decrypt_client();
    void connect_upstream();
    void on_connect(int res);
    void flush_client();
    void finish_http();
    void flush_upstream();
    void on_send(op kind, int res);
    void maybe_half_close();
    void update_backpressure();
    void touch();
    std::string peer() const;

    conn_env& _env;
    listener_runtime& _listener;
    int _client_fd;
    int _upstream_fd = -1;
    sockaddr_in6 _peer{};  // the client's address (IPv4 or IPv6), for logs
    address_key _admitted_as;
    state _state = state::hello;
    runtime::deadline_link<connection> _timer{*this};

    std::vector<uint8_t> _hello;  // ClientHello bytes before a session exists
    std::string _server_name;     // SNI, kept for a PROXY v2 header and HTTP mode
    client_auth_mode _auth_mode = client_auth_mode::none;  // the policy chosen for the hello
    std::unique_ptr<tls::session> _tls;
    std::unique_ptr<proxy::http_forwarder> _http;  // HTTP mode, from the first request byte
    bool _finish_pending = false;  // HTTP mode: close once the client has everything
    close_reason _finish_reason = close_reason::done;
    // HTTP mode: _timer is on the header or body deadline list.
    proxy::request_deadline _deadline = proxy::request_deadline::none;
    // The next round of decrypt_client, after the forwarder consumed input.
    runtime::deferred_call<connection, &connection::decrypt_client> _decrypt_later{*this};

    byte_queue _to_upstream;  // plaintext waiting for an upstream send
    send_slot _upstream_send;
    send_slot _client_send;  // ciphertext (session's cipher_out is the pending queue)

    bool _client_recv_armed = false;
    bool _upstream_recv_armed = false;
    bool _client_recv_paused = false;
    bool _upstream_recv_paused = false;
    bool _client_read_open = true;    // the client's TLS stream has not ended
    bool _client_eof = false;         // the client's transport ended (FIN)
    bool _upstream_read_open = true;  // more may come from the upstream
    bool _upstream_write_shut = false;
    bool _client_write_shut = false;
    bool _close_notify_queued = false;
    uint32_t _connect_attempts = 0;
    const socket_address* _upstream_address = nullptr;  // the one being connected to
    __kernel_timespec _connect_timeout{};
    bool _reset_client = false;    // propagate an upstream reset as RST
    bool _reset_upstream = false;  // propagate a client reset as RST
};

}  // namespace tlsterm::conn
