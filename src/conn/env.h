// What every ring owner of a shard shares: the shard services (ring,
// buffers, timers, counters, slot table). The operation kinds live with the
// slot table.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "conn/admission.h"
#include "conn/slot_table.h"
#include "conn/timer_list.h"
#include "crl/manager.h"
#include "ring/buffer_ring.h"
#include "ring/ring.h"
#include "tls/server_context.h"

namespace tlsterm::upstream {
class pool;
}

namespace tlsterm::conn {

// What a listener looks like to its connections on one shard.
struct listener_runtime {
    const listener_config* config = nullptr;
    const upstream_config* upstream = nullptr;
    std::unique_ptr<tls::server_context> tls;
    // HTTP mode: the pool of each route (same order as config->routes), and
    // of the default route.
    std::vector<upstream::pool*> route_pools;
    upstream::pool* default_pool = nullptr;
    uint32_t next_address = 0;  // round robin over upstream->addresses
    int fd = -1;                // this shard's listening socket
    bool accept_armed = false;
    bool accept_backoff = false;  // accept failed (e.g. EMFILE): re-arm on the next tick
    uint64_t accept_error_logged_ms = 0;
};

// The shard services a connection uses.
struct conn_env {
    ring::uring& ring;
    ring::buffer_ring& buffers;
    const limits_config& limits;
    shard_counters& counters;
    timer_list& handshake_timers;
    timer_list& idle_timers;
    timer_list& header_timers;   // HTTP mode: a request head in progress
    timer_list& body_timers;     // HTTP mode: a request body being buffered
    crl::manager::reader& crls;  // revocation state for client certificates
    slot_table& slots;           // where pooled upstream connections are created
    admission& admit;            // handshake admission of this shard
    uint64_t now_ms = 0;
};

}  // namespace tlsterm::conn
