// Pooled connections to one upstream, per shard: plain TCP, TLS or mTLS.
//
//   connecting -> (handshaking) -> idle <-> busy -> closing
//
// A request asks the pool for a connection (acquire): an idle one at once,
// else a new one is opened when under max_connections, else the request
// waits in a bounded queue (queue_size, queue_timeout_ms: then 503). A
// connection returns to the pool only after a complete exchange (release
// with reusable = true) and below max_requests; an idle connection that
// receives bytes or EOF is closed, since the origin has nothing to say to
// an idle client. Idle connections are closed after idle_timeout_ms; at
// least min_idle are kept open (pre-warmed) while the origin answers.
//
// An address that refuses a connection or fails the TLS handshake is marked
// down for down_backoff_ms, doubling to 30 s while it keeps failing; other
// addresses take the load. When every address is down, requests fail at
// once with 502 naming the last error.
//
// With ktls = "on" (the pool is given the kernel's calls), a TLS
// connection's records go to the kernel (kTLS) when its first exchange
// ends, so that a TLS 1.3 origin's tickets were read by wolfSSL and the
// session kept: the connection is switching meanwhile, given to nobody,
// until no receive or send is in flight and no part-read record is left
// in wolfSSL; then the keys are installed, its WOLFSSL freed, and it goes
// on to a waiter or idles. On kernel records what the origin sends that is
// not application data is judged as on a client connection: tickets and
// HelloRequests are dropped, close_notify ends the stream, an alert or a
// refused record ends the connection, and a TLS 1.3 KeyUpdate closes it
// (the kernel cannot rekey before Linux 6.14), counted.
//
// A pool serves one [[upstreams]] entry, whose settings (TLS mode, SNI,
// verify name, CA, client certificate, pins, minimum version) are the same
// for all its connections; connections differ only by address, and each
// address is an endpoint of the pool with its own down state. A request
// that names the upstream can use any of them.
#pragma once

#include <linux/time_types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <tlsterm/config.h>

#include "common/byte_queue.h"
#include "runtime/deadline_list.h"
#include "runtime/deferred.h"
#include "runtime/services.h"
#include "runtime/slot_table.h"
#include "tls/session.h"
#include "transport/kernel_records.h"
#include "transport/kernel_tls.h"
#include "transport/records.h"
#include "transport/stream.h"
#include "upstream/client_context.h"

namespace tlsterm::upstream {

class pool;
class pooled_connection;
using connection_deadlines = runtime::deadline_list<pooled_connection>;

// The request using (or waiting for) a pooled connection.
class user {
  public:
    virtual ~user() = default;
    // The pool gives a connection, now attached to this user.
    virtual void on_connection(pooled_connection& c) = 0;
    // No connection: `status` is 502 (connect/TLS failure), 503 (queue
    // full or timed out).
    virtual void on_no_connection(int status, const std::string& cause) = 0;
    // Response bytes (plaintext).
    virtual void on_upstream_data(std::span<const uint8_t> bytes) = 0;
    // The origin ended its stream (cleanly: eof; else reset or TLS error).
    // The connection is detached and closing. Never inside a call the user
    // made (a send that failed tells it after the call).
    virtual void on_upstream_closed(bool eof, const std::string& cause) = 0;
    // Everything sent so far reached the socket.
    virtual void on_upstream_drained() = 0;
    // No response head within response_timeout_ms; the connection is
    // detached and closing.
    virtual void on_response_timeout() = 0;
    // The client address the request came from (IPv4 /32, IPv6 /64, as a
    // number): the pool shares its connections among them.
    virtual uint64_t client() const = 0;
};

class pooled_connection final : public runtime::ring_owner {
  public:
    pooled_connection(pool& owner, uint32_t slot, uint32_t generation, int fd, std::size_t address);
    ~pooled_connection() override;

    void on_completion(runtime::op kind, int res, uint32_t flags) override;
    bool finished() const override { return _state == state::closing && inflight() == 0; }

    // For the attached user.
    void send(std::span<const uint8_t> plaintext);
    std::size_t backlog() const;  // bytes accepted by send() not yet on the socket
    void pause_reads(bool paused);
    bool reads_paused() const { return _sock.paused(); }
    // The request is sent: a response head must begin within
    // response_timeout_ms.
    void await_response();
    // No more bytes will be sent (a tunnel's client ended): close_notify
    // (TLS) and FIN once everything queued is on the socket.
    void shutdown_write();
    // The exchange ended: back to the pool when `reusable` and nothing
    // more came from the origin (bytes after a response belong to no
    // request), else closed.
    void release(bool reusable);
    // The user is gone mid-exchange: the connection cannot be reused.
    void abandon();

    uint32_t requests() const { return _requests; }  // exchanges completed on it
    // Its records are the kernel's (kTLS): it holds no WOLFSSL.
    bool kernel_records() const { return _kernel != nullptr; }
    const socket_address& address() const;
    // Closes without telling anyone (pool drain, idle expiry); `clean`:
    // with close_notify when TLS is established.
    void close(bool clean = true);

  private:
    friend class pool;
    enum class state : uint8_t { connecting, handshaking, idle, busy, switching, closing };

    void start();
    void on_connect(int res);
    void on_recv(int res, uint32_t flags);
    void on_send(int res);
    void on_bytes(std::span<const uint8_t> bytes);
    void on_eof();
    void try_handshake();
    void decrypt();
    void deliver(std::span<const uint8_t> plaintext);
    void attach(user& u);
    void detach();  // the user lets go, or is let go
    void flush();
    // Closes, and tells the user after the call that failed (from the
    // deferred queue: the user may be the caller).
    // `clean`: the connection's end is a clean one (close_notify).
    void fail(bool eof, const std::string& cause, bool clean = false);
    void tell_closed();  // the deferred task

    // ---- the records' move to the kernel (see the file comment)
    void begin_kernel_records();
    void continue_to_kernel();
    void hand_records_to_kernel();
    void stay_in_userspace(const std::string& why);
    void on_kernel_record(uint8_t type, std::span<const uint8_t> bytes);
    void on_kernel_receive_error(int error);

    pool& _pool;
    transport::stream _sock;
    std::size_t _address;  // index into the upstream's addresses
    uint64_t _client = 0;  // the attached user's client address
    state _state = state::connecting;
    user* _user = nullptr;
    std::unique_ptr<tls::session> _tls;
    transport::tls_records _tls_records;  // bound to _tls once it exists
    transport::plain_records _plain;      // a plain upstream's bytes
    // The kernel's records once they moved there (then _tls is gone).
    std::unique_ptr<transport::kernel_records> _kernel;
    bool _offered_session = false;  // the handshake offered the pool's saved session
    uint32_t _requests = 0;
    // Counts the users attached and released: plaintext decrypted for one
    // exchange is never delivered to the next, even when the connection
    // is released inside the delivery that ended the first.
    uint32_t _attachments = 0;
    // fail(): who hears of it, and what, after the call.
    struct closed_news {
        user* u = nullptr;
        bool eof = false;
        std::string cause;
    };
    closed_news _news;
    runtime::deferred_call<pooled_connection, &pooled_connection::tell_closed> _tell_later{*this};
    __kernel_timespec _connect_timeout{};
    runtime::deadline_link<pooled_connection> _timer{
        *this};  // handshake, idle or response deadline
    std::size_t _idle_index = 0;
};

class pool {
  public:
    // `tls` (null for plain upstreams) belongs to the configuration
    // generation the pool serves, which outlives it.
    // `kernel`: TLS connections move their records to the kernel after
    // their first exchange, through these calls (ktls = "on"); null: never.
    pool(runtime::services& env, const upstream_config& config, client_context* tls,
         const transport::kernel_tls_calls* kernel = nullptr);
    ~pool();
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    // A connection for `u`: returned when an idle one is ready (attached),
    // else nullptr and `u` hears on_connection or on_no_connection later,
    // never inside this call (nor inside release()): such answers go to
    // the shard's deferred queue.
    // `fresh`: never an idle connection (a retry after one failed); in a
    // full pool the least recently used idle one is closed to make room.
    pooled_connection* acquire(user& u, bool fresh = false);
    // `u` stopped waiting (its client went away): it hears nothing more,
    // and a connection on its way to it goes to the next waiter or idles.
    void cancel(user& u);

    // Expires deadlines, keeps min_idle warm. Called on the shard's tick.
    void tick();
    // Stops pre-warming and closes idle connections.
    void drain();
    // A newer configuration generation serves new requests: idle
    // connections close now, busy ones after their exchange unless a
    // request of this generation waits for one; nothing is pre-warmed.
    // Requests still come (from client connections of this generation) and
    // are served as before.
    void retire();
    std::size_t open_connections() const { return _open; }
    // Pooled connection objects alive (closing ones included): the pool may
    // be destroyed only at zero.
    std::size_t objects() const { return _objects; }

    const upstream_config& config() const { return _config; }
    const std::string& name() const { return _config.name; }

  private:
    friend class pooled_connection;

    struct endpoint {
        uint64_t down_until_ms = 0;
        uint32_t backoff_ms = 0;
        std::string last_error;
    };
    struct waiter {
        user* u;
        uint64_t deadline_ms;
        bool fresh;
    };
    // The client share: connections attached per client address, and how
    // many one address may hold (pool.client_share_percent).
    bool under_share(uint64_t client) const;
    void on_attached(uint64_t client);
    void on_detached(uint64_t client);
    // The first waiter that may have a connection now (`any`: also one
    // that wants a fresh one); end() if none.
    std::deque<waiter>::iterator next_waiter(bool any);
    // A full queue and a request from `client`: the newest waiter of the
    // address with the most waiting gives up its place (503) when that is
    // more than `client` has waiting; else false.
    bool make_room_for(uint64_t client);
    // Idle connections go to waiters a share held back (deferred).
    void serve_idle_to_waiters();
    // The most recently used idle connection, off the idle list and its
    // timer (`_idle` is not empty).
    pooled_connection* take_idle();
    // An answer to a user that must not hear it inside the call that
    // decided it: a connection (released by its last user and handed on)
    // or a refusal.
    struct answer {
        user* u;
        pooled_connection* c;  // null: a refusal
        int status = 0;
        std::string cause;
    };

    bool open_one();
    void on_ready(pooled_connection& c);
    void on_released(pooled_connection& c, bool reusable);
    // `c`'s switch ended (its records in the kernel, or kept in userspace):
    // it is free.
    void on_switched(pooled_connection& c);
    void on_connect_failed(pooled_connection& c, const std::string& cause);
    // A handshake that offered the saved session failed: the origin refused
    // it (wolfSSL 5.5.4's client then fails with OUT_OF_ORDER_E, -373,
    // instead of continuing with a full handshake). The session is dropped
    // and the connection attempted again without it; the address is not
    // marked down.
    void on_resumption_refused(pooled_connection& c, const std::string& cause);
    // The session of `tls` becomes the one the next connection offers.
    void keep_session(const tls::session& tls);
    void on_closed(pooled_connection& c);
    void serve_waiters();
    void fail_waiters_if_hopeless();
    void answer_later(answer a);
    void deliver_answers();  // the deferred task
    // `c` is free (released, or its user left before it came): on its way
    // to a waiter that may have it, else idle.
    void hand_on(pooled_connection& c);
    std::string down_cause() const;

    runtime::services& _env;
    const upstream_config& _config;
    client_context* _tls;
    const transport::kernel_tls_calls* _kernel;
    WOLFSSL_SESSION* _resume = nullptr;  // the last session, offered to the next connection
    std::vector<endpoint> _endpoints;
    std::size_t _next_address = 0;
    std::vector<pooled_connection*> _idle;       // most recently used last
    std::vector<pooled_connection*> _switching;  // records on their way to the kernel
    std::deque<waiter> _waiters;
    std::unordered_map<uint64_t, uint32_t> _held;  // attached connections per client address
    uint32_t _share;                               // the most one address holds
    bool _share_changed = false;  // a waiter held back may be served (deliver_answers)
    std::deque<answer> _answers;
    runtime::deferred_call<pool, &pool::deliver_answers> _answer_later{*this};
    std::size_t _open = 0;        // every connection not yet closing
    std::size_t _connecting = 0;  // connecting or handshaking
    // Serving; retired (a newer generation serves new requests: nothing
    // pre-warmed, a released connection only to a waiter); draining
    // (nothing reused, nothing opened).
    enum class phase : uint8_t { serving, retired, draining };
    phase _phase = phase::serving;
    std::size_t _objects = 0;
    connection_deadlines _handshake_timers;
    connection_deadlines _idle_timers;
    connection_deadlines _response_timers;
};

}  // namespace tlsterm::upstream
