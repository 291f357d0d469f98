// What runs on a client's verified TLS stream, seen from the connection: a
// stream_handler made by the listener's handler_factory (proxy::tcp_pipe at
// the end of the handshake in tcp mode, proxy::http_forwarder on the first
// request byte in HTTP mode), and client_side, the connection as the
// handler sees it. conn/ knows only these interfaces: the forwarders and
// the pools they use sit above it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <tlsterm/counters.h>

#include "common/byte_queue.h"
#include "runtime/slot_table.h"

namespace tlsterm::conn {

struct conn_env;
struct listener_runtime;

enum class request_deadline : uint8_t { none, head, body };

// What the handler needs from the client connection.
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
    // The handler consumed input: reading from the client may resume.
    virtual void client_input_consumed() = 0;
    // The deadline a request is under, if any: while one runs (from a
    // head's first byte: limits.header_timeout_ms; from the end of a head
    // whose body tlsterm buffers: limits.body_timeout_ms), traffic does not
    // push it back.
    virtual void client_deadline(request_deadline d) = 0;
    // Traffic on the handler's side: the idle deadline starts again.
    virtual void client_touch() = 0;
    // The client's stream ended (close_notify, or FIN): no input will
    // follow what is in the input queue.
    virtual bool client_input_ended() const = 0;
    // Ends the direction toward the client (close_notify, then FIN once
    // everything queued is sent) while its input goes on.
    virtual void client_end_write() = 0;
    virtual bool client_write_shut() const = 0;
    // The ring owner whose submissions the handler's own sockets make (their
    // completions come back through on_completion).
    virtual runtime::ring_owner& client_owner() = 0;

    // ---- splicing (tcp mode; the client's records in the kernel both ways)
    // The client's socket once the kernel makes its records both ways; -1
    // before, and when they stay in userspace.
    virtual int client_kernel_socket() const = 0;
    // The handler reads the client's socket from now on (splices from it):
    // the connection's receive is cancelled, what it still brings comes as
    // input as usual, and every completion of it ends with the handler's
    // on_client_input().
    virtual void client_hand_over_receive() = 0;
    // A receive of the connection's is still in flight.
    virtual bool client_receiving() const = 0;
    // A splice from the client's socket stopped: `res` 0 (the client's
    // FIN), -EINVAL (the next record is not data: the connection reads it
    // (close_notify, an alert, a KeyUpdate) and tells the handler through
    // on_client_input), or another error (a record the kernel refused gets
    // its alert; a reset ends the connection).
    virtual void client_splice_stopped(int res) = 0;
    // Bytes the handler splices into the client's socket are on their way
    // (`busy`), or all out: nothing of the connection's goes out meanwhile.
    virtual void client_splicing_out(bool busy) = 0;
};

// Facts of the client connection the handler uses.
struct client_facts {
    std::string peer;               // "address:port", for logs
    std::string peer_ip;            // for X-Forwarded-For
    uint64_t client = 0;            // the address as pools share by (IPv4 /32, IPv6 /64)
    std::string server_name;        // SNI, lower case; empty when none
    bool verifies_clients = false;  // the handshake's policy asks for client certificates
    std::string identity;           // rendered identity header lines ("Name: value\r\n"...)
};

class stream_handler {
  public:
    virtual ~stream_handler() = default;
    // Made and held by the connection: starts its work.
    virtual void start() {}
    // New plaintext from the client is in the input queue, or its stream
    // ended (client_side::client_input_ended).
    virtual void on_client_input() = 0;
    // The client's send backlog shrank.
    virtual void on_client_drained() = 0;
    // The kernel makes the client's records from now on (kTLS, both ways).
    virtual void on_client_kernel_records() {}
    // The client connection is closing: let go of everything upstream;
    // `reset`: the client's side broke, so a socket of the handler's sends
    // a reset too. Heard after the call that closed it, never inside it
    // (even when that call was the handler's own).
    virtual void on_client_closing(bool reset) = 0;
    // Plaintext taken from the input queue and not yet delivered.
    virtual std::size_t backlog() const { return 0; }
    // A completion of a submission the handler made through client_owner().
    virtual void on_completion(runtime::op, int, uint32_t) {}
    // The connection is closing and nothing is in flight: close the
    // handler's sockets (transport::stream::release).
    virtual void release_sockets() {}
    // Stop after the exchange in progress (now, when between requests).
    virtual void drain() = 0;
    // A newer configuration serves new connections: the current or next
    // response is the last.
    virtual void retire() = 0;
    // The request's deadline passed (head or buffered body).
    virtual void on_request_timeout() = 0;
};

class handler_factory {
  public:
    virtual ~handler_factory() = default;
    // A handler for `client`, reading its plaintext from `input`; `listener`
    // and `env` outlive it.
    virtual std::unique_ptr<stream_handler> make(client_side& client, listener_runtime& listener,
                                                 conn_env& env, byte_queue& input,
                                                 client_facts facts) = 0;
};

}  // namespace tlsterm::conn
