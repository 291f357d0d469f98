// What the client connections of a shard share: the shard's runtime
// services (ring, buffers, counters, slot table, deferred queue), admission,
// the identity cache, and per generation and listener what their settings
// say. The operation kinds live with the slot table.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "conn/admission.h"
#include "conn/stream_handler.h"
#include "crl/manager.h"
#include "runtime/deadline_list.h"
#include "runtime/services.h"
#include "tls/identity_cache.h"
#include "tls/server_context.h"
#include "transport/kernel_tls.h"
#include "transport/splice.h"

namespace tlsterm::conn {

class connection;
using deadlines = runtime::deadline_list<connection>;

// What one configuration generation is to the connections of one shard:
// its limits, the deadline lists of its timeouts (shared with every other
// generation that has the same timeout) and its revocation state. Part of
// the shard's generation, which every connection of it holds a reference to.
struct generation_view {
    uint64_t number = 0;
    const limits_config* limits = nullptr;
    deadlines* handshake_timers = nullptr;
    deadlines* idle_timers = nullptr;
    deadlines* header_timers = nullptr;  // HTTP mode: a request head in progress
    deadlines* body_timers = nullptr;    // HTTP mode: a request body being buffered
    deadlines* linger_timers = nullptr;  // HTTP mode: lingering after the last response
    crl::manager::reader crls{nullptr};  // revocation state for client certificates
    // A newer generation took over (or the shard drains): HTTP connections
    // of this one end after their next response.
    bool retired = false;
};

// What a listener of one generation looks like to its connections on one
// shard. The listening socket is the shard's, not the generation's. A
// connection holds it as a shared_ptr that owns the whole generation, and
// reads every setting through it.
struct listener_runtime {
    generation_view* gen = nullptr;
    const listener_config* config = nullptr;
    const upstream_config* upstream = nullptr;
    tls::server_context* tls = nullptr;  // this shard's, owned by the generation
    // What serves a handshaken connection: the shard's proxy::http_routes
    // of this listener (HTTP mode) or its proxy::pipe_factory (tcp mode).
    handler_factory* handlers = nullptr;
    uint32_t next_address = 0;  // tcp mode: round robin over upstream->addresses
    // After the handshake the kernel takes the records over (kTLS) where
    // the suite allows (listeners.tls.ktls, probed by the generation).
    bool kernel_records = false;
    // tcp mode, records in the kernel: the pipe splices (listeners.splice).
    bool splice = false;
};

// The shard services a client connection uses, whatever its generation.
struct conn_env : runtime::services {
    admission& admit;                          // handshake admission of this shard
    tls::identity_cache& identities;           // the process's client identities of tickets
    transport::kernel_tls_calls kernel_tls{};  // how records go to the kernel (kTLS)
    // Where a spliced pipe's pipes come from (a test makes them fail).
    transport::splice_pipe_maker splice_pipes = transport::open_splice_pipe;
};

}  // namespace tlsterm::conn
