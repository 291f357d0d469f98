// Why connections end, and the other per-shard event counts. Each shard owns
// one counters struct and only it writes there; the main thread reads the
// atomics (relaxed) for reports.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace tlsterm {

enum class close_reason : uint8_t {
    done,                  // both sides finished normally
    client_reset,          // client sent RST or its socket failed
    upstream_reset,        // upstream sent RST or its socket failed
    not_tls,               // first bytes were not a TLS ClientHello
    bad_client_hello,      // malformed or oversized ClientHello
    handshake_failed,      // TLS handshake error (alert sent)
    handshake_timeout,     // handshake not done within limits.handshake_timeout_ms
    idle_timeout,          // no traffic within limits.idle_timeout_ms
    tls_error,             // record-layer error after the handshake
    upstream_down,         // no upstream address accepted a connection
    too_many_connections,  // limits.max_connections_per_shard reached at accept
    drain_deadline,        // still open when the drain grace period ended
    out_of_memory,         // a TLS session could not be allocated
    out_of_descriptors,    // no descriptor left for the upstream socket (EMFILE/ENFILE)
    count_
};

inline constexpr std::size_t close_reason_count = static_cast<std::size_t>(close_reason::count_);

std::string_view to_string(close_reason r);

struct shard_counters {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> handshakes{0};
    std::atomic<uint64_t> upstream_connects{0};
    std::atomic<uint64_t> upstream_connect_failures{0};
    std::atomic<uint64_t> bytes_from_client{0};  // plaintext
    std::atomic<uint64_t> bytes_from_upstream{0};
    std::atomic<uint64_t> active{0};
    std::array<std::atomic<uint64_t>, close_reason_count> closed{};

    void count(close_reason r) {
        closed[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    }
};

}  // namespace tlsterm
