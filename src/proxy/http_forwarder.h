// The HTTP/1.1 mode of a client connection: requests parsed from the
// decrypted stream, routed (SNI, Host, path prefix) to a pool, rewritten
// (hop-by-hop headers, X-Forwarded-*, client identity; incoming identity
// headers always removed) and sent over a pooled upstream connection; the
// response streamed back.
//
// One exchange at a time: pipelined requests wait in the connection's input
// queue (bounded by max_buffered_bytes) and are answered in order. Bodies
// stream in pieces in both directions, re-framed by tlsterm (Content-Length
// kept, chunked re-encoded), never buffered whole. Backpressure: request
// bodies stop being read while the upstream socket is behind; upstream
// reads pause while the client is behind.
//
// Errors a client sees: 400/414/417/431/501 for malformed requests (then
// close), 405 for CONNECT, 421 when the Host is not the server name the
// client certificate was verified under, 502 when the upstream cannot be
// reached or answers garbage, 503 when the pool queue is full or times
// out, 504 when no response head comes in time. Each is logged with its
// cause. An idempotent bodiless request whose reused connection was closed
// by the origin before any response byte is retried once on a new one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tlsterm/config.h>

#include "common/byte_queue.h"
#include "conn/env.h"
#include "http/message_parser.h"
#include "upstream/pool.h"

namespace tlsterm::proxy {

enum class request_deadline : uint8_t { none, head, body };

// What the forwarder needs from the client connection.
class client_side {
  public:
    virtual ~client_side() = default;
    // Encrypts and sends response bytes.
    virtual void client_send(std::span<const uint8_t> plaintext) = 0;
    // Bytes given to client_send not yet on the socket.
    virtual std::size_t client_backlog() const = 0;
    // No more responses: send what is queued, close_notify, close (counted
    // as `why`).
    virtual void client_finish(close_reason why) = 0;
    // Close now: the client must see the stream break (a response cut short).
    virtual void client_abort(close_reason why) = 0;
    // The forwarder consumed input: reading from the client may resume.
    virtual void client_input_consumed() = 0;
    // The deadline a request is under, if any: while one runs (from a
    // head's first byte: limits.header_timeout_ms; from the end of a head
    // whose body tlsterm buffers: limits.body_timeout_ms), traffic does not
    // push it back.
    virtual void client_deadline(request_deadline d) = 0;
};

// Facts of the client connection the forwarder uses.
struct client_facts {
    std::string peer;               // "address:port", for logs
    std::string peer_ip;            // for X-Forwarded-For
    std::string server_name;        // SNI, lower case; empty when none
    bool verifies_clients = false;  // the handshake's policy asks for client certificates
    std::string identity;           // rendered identity header lines ("Name: value\r\n"...)
};

class http_forwarder final : public upstream::user {
  public:
    http_forwarder(client_side& client, conn::listener_runtime& listener, conn::conn_env& env,
                   byte_queue& input, client_facts facts);
    ~http_forwarder() override;
    http_forwarder(const http_forwarder&) = delete;
    http_forwarder& operator=(const http_forwarder&) = delete;

    // New plaintext from the client is in `input`; `eof` when the client's
    // stream ended.
    void on_client_input(bool eof);
    // The client's send backlog shrank.
    void on_client_drained();
    // The client connection is closing: let go of the pool and connection.
    void abort();
    // Stop after the exchange in progress (now, when between requests).
    void drain();
    // A newer configuration serves new connections: the current or next
    // response is the last (Connection: close); a keep-alive connection
    // waiting for its next request is not closed under the client, whose
    // request could cross the close.
    void retire();
    // The request's deadline passed (head or buffered body): 408, close.
    void on_request_timeout();

    // upstream::user
    void on_connection(upstream::pooled_connection& c) override;
    void on_no_connection(int status, const std::string& cause) override;
    void on_upstream_data(std::span<const uint8_t> bytes) override;
    void on_upstream_closed(bool eof, const std::string& cause) override;
    void on_upstream_drained() override;
    void on_response_timeout() override;

  private:
    enum class req : uint8_t { head, buffering, waiting, body, sent, tunnel };
    enum class resp : uint8_t { none, head_sent_interim, body, done, tunnel };

    void pump();
    void read_response(std::span<const uint8_t> bytes);
    void emit_client(std::span<const uint8_t> bytes);
    void emit_origin(std::span<const uint8_t> bytes);
    void flush();  // what emit_* collected goes out, one write per side
    std::size_t client_backlog() const;
    void finish_client(close_reason why);
    void start_request();
    void acquire_upstream();
    upstream::pool* route(std::string_view host, std::string_view path) const;
    void build_upstream_head(std::string_view host, std::string_view path);
    void on_response_head();
    void on_response_end(bool extra_bytes);
    // Answers `status` and closes, counted as `why` (by default: from the
    // status, upstream_error or bad_request).
    void reply_error(int status, const std::string& cause,
                     std::optional<close_reason> why = std::nullopt);
    void fail_response(const std::string& cause);
    void log_error(int status, const std::string& cause) const;

    client_side& _client;
    conn::listener_runtime& _listener;
    conn::conn_env& _env;
    byte_queue& _input;
    client_facts _facts;
    http::message_parser _request;
    http::message_parser _response;

    req _req = req::head;
    resp _resp = resp::none;
    bool _done = false;        // no further requests: an error was answered or the client left
    bool _client_eof = false;  // the client's stream ended
    bool _pumping = false;
    bool _draining = false;  // draining or retired: no request after the current one

    // One request and its response. Everything here begins anew with each
    // request head (start_request), and the response parser with each
    // upstream connection the exchange is given (on_connection): nothing
    // of one exchange, and no byte of one origin connection, reaches the
    // next.
    struct exchange {
        upstream::pool* pool = nullptr;
        upstream::pooled_connection* conn = nullptr;
        bool waiting = false;  // queued in pool
        bool conn_was_reused = false;
        bool request_complete = false;         // the whole request was parsed
        bool response_bytes_seen = false;      // the origin has begun to answer
        bool expect_continue_pending = false;  // send 100 Continue once a connection is attached
        bool retried = false;
        bool request_chunked = false;   // re-encode the request body as chunked
        bool response_chunked = false;  // re-encode the response body as chunked
        bool close_after = false;       // close the client after this response
        bool upstream_paused = false;
        bool tunnel_shut = false;    // the client's end of a tunnel was passed on
        uint64_t buffered_body = 0;  // req::buffering: body bytes to have in _input first
        uint64_t body_progress = 0;  // req::body: bytes taken from the client this period
        std::string method;
        std::string target;
        std::string upstream_head;  // kept until a response begins, for a retry
    };
    exchange _x;
    std::vector<uint8_t> _to_client;  // collected by emit_client, sent by flush
    std::vector<uint8_t> _to_origin;  // collected by emit_origin, sent by flush
};

}  // namespace tlsterm::proxy
