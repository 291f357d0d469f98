// One client connection, driven by io_uring completions: an explicit state
// machine with one dispatch point, ending at a verified TLS stream.
//
//   hello -> handshaking -> proxying -> (lingering) -> closing
//
// lingering (HTTP mode): the last response, close_notify and FIN are out;
// what the client still sends is dropped until it closes or
// lingering_close_ms ends.
//
// The client's socket is a transport::stream (receive, one send in
// flight, FIN, reset, last words and close, all through the ring) with the
// TLS session's records behind it. On a listener whose records go to the
// kernel (kTLS), the connection hands them over after the handshake, at a
// record boundary, and frees its WOLFSSL (see hand_records_to_kernel).
// Past the handshake, a stream_handler made by the listener's
// handler_factory reads the decrypted input queue: in tcp mode a
// proxy::tcp_pipe (its own upstream stream, submitted through this
// connection's slot, whose completions it is handed), in HTTP mode a
// proxy::http_forwarder borrowing pooled upstream connections per request,
// made on the first request byte so an idle connection holds no parser.
// The connection encrypts what the handler sends back (client_side).
// conn/ never includes proxy/ or upstream/.
//
// Ownership and lifetime:
//  - The shard owns connections in a slot table (runtime/slot_table.h); every
//    SQE a connection submits carries op_id{slot, generation, op}, and
//    ring_owner counts those whose final completion has not arrived.
//  - close() cancels everything on every socket; the sockets are closed
//    (through the ring) once nothing is in flight, and the shard frees the
//    slot only when finished() (closing and nothing in flight), so no
//    completion can outlive the memory it refers to.
//  - A send's bytes stay put until its completion (transport::stream).
//  - What a handler's call back into the connection would re-enter (the
//    next round of decryption, the news that the connection closed) runs
//    from the shard's deferred queue, never inside the handler's call.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "common/byte_queue.h"
#include "conn/env.h"
#include "conn/stream_handler.h"
#include "runtime/deadline_list.h"
#include "runtime/deferred.h"
#include "runtime/slot_table.h"
#include "tls/session.h"
#include "transport/kernel_records.h"
#include "transport/records.h"
#include "transport/stream.h"

namespace tlsterm::conn {

class connection final : public runtime::ring_owner, public client_side {
  public:
    using op = runtime::op;

    // `peer` and `who`: the client's address as accepted and as admission
    // counted it (released with the connection).
    // `listener` keeps its configuration generation alive as long as the
    // connection lives.
    connection(conn_env& env, std::shared_ptr<listener_runtime> listener, uint32_t slot,
               uint32_t generation, int client_fd, const sockaddr_in6& peer,
               const address_key& who);
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
    generation_view& generation() const { return *_listener->gen; }
    // Closes with `reason` (no-op when already closing).
    void close(close_reason reason);
    bool finished() const override { return _state == state::closing && inflight() == 0; }

    const address_key& admitted_as() const { return _admitted_as; }

    // client_side: what the stream handler (pipe or HTTP forwarder) uses
    void client_send(std::span<const uint8_t> plaintext) override;
    std::size_t client_backlog() const override;
    void client_finish(close_reason why) override;
    void client_abort(close_reason why) override;
    void client_input_consumed() override;
    void client_deadline(request_deadline d) override;
    void client_touch() override;
    void client_end_write() override;
    bool client_write_shut() const override;
    bool client_input_ended() const override;
    runtime::ring_owner& client_owner() override;
    int client_kernel_socket() const override;
    void client_hand_over_receive() override;
    bool client_receiving() const override;
    void client_splice_stopped(int res) override;
    void client_splicing_out(bool busy) override;
    // The request deadline passed (shard tick).
    void request_timeout();
    // limits.lingering_close_ms passed since the last response (shard tick).
    void end_lingering();

  private:
    enum class state : uint8_t { hello, handshaking, proxying, lingering, closing };

    bool http_mode() const { return _listener->config->mode == listener_mode::http; }
    void on_recv(int res, uint32_t flags);
    void on_send(int res);
    void on_client_data(std::span<const uint8_t> bytes);
    void on_client_eof();
    void on_socket_error(const char* what, int res);

    void try_hello();
    void send_plain_alert(tls::alert a);
    void try_handshake();
    void note_resumption();
    void count_ticket_refusal();
    void note_client_certificate(const tls::client_verifier& auth);
    void queue_proxy_header();
    stream_handler& handler();
    client_facts make_facts();
    void decrypt_client();
    void pass_input();
    void flush_client();
    void begin_kernel_records();
    void continue_to_kernel();
    void hand_records_to_kernel();
    void keep_userspace_records();
    void stay_in_userspace(const std::string& why);
    void on_kernel_record(uint8_t type, std::span<const uint8_t> bytes);
    void on_kernel_receive_error(int res);
    void update_backpressure();
    void finish();
    void tell_handler_closing();  // the deferred task of close()
    void touch();
    std::string peer() const;

    conn_env& _env;
    const std::shared_ptr<listener_runtime> _listener;  // owns its generation
    transport::stream _client{*this, _env, op::client_recv, op::client_send, op::client_ready};
    sockaddr_in6 _peer{};  // the client's address (IPv4 or IPv6), for logs
    address_key _admitted_as;
    state _state = state::hello;
    runtime::deadline_link<connection> _timer{*this};

    std::vector<uint8_t> _hello;  // ClientHello bytes before a session exists
    std::string _server_name;     // SNI, kept for a PROXY v2 header and HTTP mode
    client_auth_mode _auth_mode = client_auth_mode::none;  // the policy chosen for the hello
    std::unique_ptr<tls::session> _tls;                    // freed once the kernel has the records
    transport::tls_records _client_records;                // bound to _tls once it exists
    // Where the client's records are made: by wolfSSL; on the way to the
    // kernel (waiting for a record boundary with nothing in flight); by the
    // kernel (_kernel, and no _tls).
    enum class records : uint8_t { wolfssl, to_kernel, kernel };
    records _records_at = records::wolfssl;
    // Made when the move begins: until the kernel has the records, its
    // outgoing queue holds what the handler sends (the stream still sends
    // wolfSSL's records).
    std::unique_ptr<transport::kernel_records> _kernel;
    // HTTP mode: the facts of a connection whose session went to the
    // kernel before its forwarder was made.
    std::unique_ptr<client_facts> _facts;
    // After the handshake: the pipe at once, the HTTP forwarder from the
    // first request byte.
    std::unique_ptr<stream_handler> _handler;
    // The handler gave its last answer: finish (as this) once the client
    // has everything.
    std::optional<close_reason> _finishing;
    // HTTP mode: _timer is on the header or body deadline list.
    request_deadline _deadline = request_deadline::none;
    // The next round of decrypt_client, after the handler consumed input.
    runtime::deferred_call<connection, &connection::decrypt_client> _decrypt_later{*this};
    // The handler hears of the close after the call that caused it (which
    // may be its own: a client_send that failed, client_finish).
    runtime::deferred_call<connection, &connection::tell_handler_closing> _closing_later{*this};
    close_reason _closed_as = close_reason::done;

    // Plaintext from the client, for the stream handler. Its TLS stream's
    // end stops the client stream's receiving (receiving_stopped()).
    byte_queue _to_upstream;
};

}  // namespace tlsterm::conn
