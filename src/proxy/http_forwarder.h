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
#include "conn/stream_handler.h"
#include "http/message_parser.h"
#include "upstream/pool.h"

namespace tlsterm::proxy {

// The pools of one HTTP listener's routes (same order as its config's
// routes) and of its default route, and the factory of its forwarders.
class http_routes final : public conn::handler_factory {
  public:
    std::vector<upstream::pool*> route_pools;
    upstream::pool* default_pool = nullptr;

    std::unique_ptr<conn::stream_handler> make(conn::client_side& client,
                                               conn::listener_runtime& listener,
                                               conn::conn_env& env, byte_queue& input,
                                               conn::client_facts facts) override;
};

class http_forwarder final : public conn::stream_handler, public upstream::user {
  public:
    http_forwarder(conn::client_side& client, const http_routes& routes,
                   conn::listener_runtime& listener, conn::conn_env& env, byte_queue& input,
                   conn::client_facts facts);
    ~http_forwarder() override;
    http_forwarder(const http_forwarder&) = delete;
    http_forwarder& operator=(const http_forwarder&) = delete;

    // New plaintext from the client is in `input`, or its stream ended.
    void on_client_input() override;
    // The client's send backlog shrank.
    void on_client_drained() override;
    // The client connection is closing: let go of the pool and connection.
    void abort();
    void on_client_closing(bool) override { abort(); }
    // Stop after the exchange in progress (now, when between requests).
    void drain() override;
    // A newer configuration serves new connections: the current or next
    // response is the last (Connection: close); a keep-alive connection
    // waiting for its next request is not closed under the client, whose
    // request could cross the close.
    void retire() override;
    // The request's deadline passed (head or buffered body): 408, close.
    void on_request_timeout() override;

    // upstream::user
    void on_connection(upstream::pooled_connection& c) override;
    void on_no_connection(int status, const std::string& cause) override;
    void on_upstream_data(std::span<const uint8_t> bytes) override;
    void on_upstream_closed(bool eof, const std::string& cause) override;
    void on_upstream_drained() override;
    void on_response_timeout() override;
    uint64_t client() const override { return _facts.client; }

  private:
    // How many more requests: all; the current (or next) one is the last
    // (draining, retired); none (an error was answered, the client left).
    enum class phase : uint8_t { serving, last_exchange, ended };
    // The request direction: reading a head; buffering a small body before
    // a connection is taken; waiting for a connection; sending the body;
    // sent whole; a complete bodiless request waiting for a fresh
    // connection after its reused one closed (once); an upgraded tunnel.
    enum class req : uint8_t { head, buffering, waiting, body, sent, retrying, tunnel };
    // The response direction.
    enum class resp : uint8_t { none, head_sent_interim, body, done, tunnel };

    bool waiting() const { return _req == req::waiting || _req == req::retrying; }
    void pump();
    void read_response(std::span<const uint8_t> bytes);
    void emit_client(std::span<const uint8_t> bytes);
    void emit_origin(std::span<const uint8_t> bytes);
    void flush();  // what emit_* collected goes out, one write per side
    std::size_t client_backlog() const;
    void finish_client(close_reason why);
    void start_request();
    void acquire_upstream();
    bool buffer_chunks(bool client_eof);
    void client_left_in_body();
    // The exchange's connection: its request head goes out, its body
    // follows in pump().
    void take_connection(upstream::pooled_connection& c);
    // Off the pool's queue and off the exchange's connection (abandoned).
    void let_go();
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

    conn::client_side& _client;
    const http_routes& _routes;
    conn::listener_runtime& _listener;
    conn::conn_env& _env;
    byte_queue& _input;
    conn::client_facts _facts;
    http::message_parser _request;
    http::message_parser _response;

    phase _phase = phase::serving;
    req _req = req::head;
    resp _resp = resp::none;

    // One request and its response. Everything here begins anew with each
    // request head (start_request), and the response parser with each
    // upstream connection the exchange is given (on_connection): nothing
    // of one exchange, and no byte of one origin connection, reaches the
    // next.
    struct exchange {
        upstream::pool* pool = nullptr;
        upstream::pooled_connection* conn = nullptr;
        bool response_bytes_seen = false;      // the origin has begun to answer
        bool expect_continue_pending = false;  // send 100 Continue once a connection is attached
        bool retried = false;
        bool request_chunked = false;   // re-encode the request body as chunked
        bool response_chunked = false;  // re-encode the response body as chunked
        bool close_after = false;       // close the client after this response
        uint64_t buffered_body = 0;     // req::buffering: body bytes to have in _input first
        // req::buffering a chunked body: it is parsed as it comes, into the
        // chunks the origin will get, until it ends or reaches the buffer
        // limit; then a connection is taken.
        bool buffering_chunks = false;
        bool body_read = false;           // ... the whole body is in early_body
        std::vector<uint8_t> early_body;  // ... its data so far (one chunk to the origin)
        uint64_t body_progress = 0;       // req::body: bytes taken from the client this period
        std::string method;
        std::string target;
        std::string upstream_head;  // kept until a response begins, for a retry
    };
    exchange _x;
    std::vector<uint8_t> _to_client;  // collected by emit_client, sent by flush
    std::vector<uint8_t> _to_origin;  // collected by emit_origin, sent by flush
    // pump() after the call in progress (a response's end, an upgrade).
    runtime::deferred_call<http_forwarder, &http_forwarder::pump> _pump_later{*this};
};

}  // namespace tlsterm::proxy
