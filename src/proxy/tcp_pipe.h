// The tcp mode of a client connection: one upstream socket per client,
// connected when the handshake ends (one address after another, round robin
// per shard, each connect with a linked timeout), and bytes piped both ways
// as they come. The client's plaintext (after a PROXY v2 header when the
// upstream wants one) is sent from the connection's input queue as it is;
// what the upstream sends is encrypted toward the client.
//
// Ends: the client's close_notify (or bare FIN) becomes a FIN to the
// upstream once everything before it is delivered; the upstream's FIN
// becomes close_notify then FIN to the client; a reset on one side becomes
// a reset on the other. Backpressure: each direction holds at most
// limits.max_buffered_bytes (the connection pauses the client's side, the
// pipe the upstream's).
//
// Spliced (listeners.splice, on by default): once the kernel makes the
// client's records both ways (kTLS), each direction moves socket -> pipe ->
// socket through io_uring SPLICE (transport/splice.h) and the bytes never
// reach userspace. The switch is per direction and in order: a direction
// fills its pipe only once every byte that went the userspace way is out
// (the connection's last receive, the input queue, a send in flight), and
// while its pipe holds bytes nothing of the userspace way goes to that
// socket. A record the kernel cannot splice (an alert, a KeyUpdate,
// close_notify) is read by the connection, which says what it ends. No
// pipe to be had (descriptors, fs.pipe-user-pages-soft): the connection
// copies, counted (splice_fallbacks).
#pragma once

#include <linux/time_types.h>

#include <cstdint>
#include <memory>

#include "common/byte_queue.h"
#include "conn/env.h"
#include "conn/stream_handler.h"
#include "transport/records.h"
#include "transport/splice.h"
#include "transport/stream.h"

namespace tlsterm::proxy {

class tcp_pipe final : public conn::stream_handler {
  public:
    tcp_pipe(conn::client_side& client, conn::listener_runtime& listener, conn::conn_env& env,
             byte_queue& input, conn::client_facts facts);
    tcp_pipe(const tcp_pipe&) = delete;
    tcp_pipe& operator=(const tcp_pipe&) = delete;

    void start() override;  // connects
    void on_client_input() override;
    void on_client_drained() override;
    void on_client_kernel_records() override;
    void on_client_closing(bool reset) override;
    std::size_t backlog() const override { return _upstream.in_flight_bytes(); }
    void on_completion(runtime::op kind, int res, uint32_t flags) override;
    void release_sockets() override;
    // A byte pipe runs until either side ends it.
    void drain() override {}
    void retire() override {}
    void on_request_timeout() override {}

  private:
    enum class state : uint8_t { connecting, open, closing };

    void connect_next();
    void on_connect(int res);
    void on_recv(int res, uint32_t flags);
    void on_send(int res);
    void on_upstream_error(const char* what, int res);
    void flush();
    void half_close();
    void start_splicing();
    void pump();
    void on_ready(bool to_upstream, int res, uint32_t flags);
    void on_fill(bool to_upstream, int res);
    void on_drain(bool to_upstream, int res);

    conn::client_side& _client;
    conn::listener_runtime& _listener;
    conn::conn_env& _env;
    conn::client_facts _facts;
    transport::plain_records _records;  // sends the connection's input queue
    transport::stream _upstream;
    state _state = state::connecting;
    uint32_t _connect_attempts = 0;
    const socket_address* _address = nullptr;  // the one being connected to
    __kernel_timespec _connect_timeout{};
    // Spliced: client -> upstream and upstream -> client.
    struct spliced {
        spliced(runtime::ring_owner& owner, transport::splice_pipe up, transport::splice_pipe down,
                int client, int upstream)
            : to_upstream(owner, runtime::op::to_upstream_ready, runtime::op::to_upstream_fill,
                          runtime::op::to_upstream_drain, std::move(up), client, upstream),
              to_client(owner, runtime::op::to_client_ready, runtime::op::to_client_fill,
                        runtime::op::to_client_drain, std::move(down), upstream, client) {}
        transport::splice_direction to_upstream;
        transport::splice_direction to_client;
    };
    std::unique_ptr<spliced> _splice;
    bool _splice_tried = false;
};

// What the connections of a tcp listener are piped by.
class pipe_factory final : public conn::handler_factory {
  public:
    std::unique_ptr<conn::stream_handler> make(conn::client_side& client,
                                               conn::listener_runtime& listener,
                                               conn::conn_env& env, byte_queue& input,
                                               conn::client_facts facts) override;
};

}  // namespace tlsterm::proxy
