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
    bad_request,           // HTTP mode: a malformed or refused request (4xx/501 answered)
    upstream_error,        // HTTP mode: the upstream failed a request (502/503/504 answered)
    // A completed handshake without the client authentication its policy
    // demands (tlsterm's own check after wolfSSL's): closed before any byte
    // reaches an upstream.
    unauthenticated,
    header_timeout,    // HTTP mode: a request head not complete within limits.header_timeout_ms
    body_timeout,      // HTTP mode: a buffered request body not complete in limits.body_timeout_ms
    address_limit,     // at accept: limits.max_connections_per_address reached
    handshake_rate,    // at accept: limits.handshake_rate(_per_address) exceeded
    server_name_rate,  // after the ClientHello: limits.handshake_rate_per_server_name exceeded
    // Kernel records: the peer sent a TLS 1.3 KeyUpdate, which the kernel
    // cannot follow before Linux 6.14; closed cleanly (close_notify).
    ktls_key_update,
    count_
};

inline constexpr std::size_t close_reason_count = static_cast<std::size_t>(close_reason::count_);

std::string_view to_string(close_reason r);

// Why a client certificate was refused (the handshake then fails).
enum class cert_reject : uint8_t {
    no_certificate,  // client_auth = "require" and the client sent none
    unknown_ca,      // no configured CA issued the chain
    expired,         // a certificate of the chain is past notAfter
    not_yet_valid,   // a certificate of the chain is before notBefore
    revoked,         // a CRL in force lists a certificate of the chain
    bad_signature,   // a signature in the chain does not verify
    stale_crl,       // the issuer's CRL is past nextUpdate (and past any grace)
    missing_crl,     // crl_policy needs a CRL for the issuer and none is held
    chain_too_long,  // more intermediates than verify_depth
    not_allowed,     // matches no allow_subjects / allow_sans pattern
    not_x509v3,      // an X.509 v1/v2 leaf and require_x509v3 = true
    wrong_usage,     // the leaf is a CA, or its key usages exclude client authentication
    invalid,         // any other defect (malformed, wrong usage, ...)
    count_
};

inline constexpr std::size_t cert_reject_count = static_cast<std::size_t>(cert_reject::count_);

std::string_view to_string(cert_reject r);

// Why a session ticket a client offered was not resumed (a full handshake
// follows; the certificate checks then run as on any full handshake).
enum class ticket_refusal : uint8_t {
    unknown_key,       // sealed with a key this listener does not hold (rotated out, other host)
    invalid,           // not a tlsterm ticket, or altered
    expired,           // older than session_ticket_lifetime_s
    policy,            // issued under another listener or client-certificate policy
    identity_unknown,  // its client certificate is not in this shard's identity cache
    revoked,           // its client certificate (or an issuer) is revoked now
    certificate,       // its client certificate fails another check now (expired, CA, CRL)
    count_
};
inline constexpr std::size_t ticket_refusal_count =
    static_cast<std::size_t>(ticket_refusal::count_);
std::string_view to_string(ticket_refusal r);

struct shard_counters {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> handshakes{0};
    std::atomic<uint64_t> upstream_connects{0};
    std::atomic<uint64_t> upstream_connect_failures{0};
    std::atomic<uint64_t> bytes_from_client{0};  // plaintext
    std::atomic<uint64_t> bytes_from_upstream{0};
    std::atomic<uint64_t> active{0};
    std::array<std::atomic<uint64_t>, close_reason_count> closed{};
    std::array<std::atomic<uint64_t>, cert_reject_count> cert_rejected{};
    std::atomic<uint64_t> client_certs_verified{0};
    std::atomic<uint64_t> stale_crl_accepted{0};  // crl_stale = "warn" or within grace
    std::atomic<uint64_t> x509v1_accepted{0};     // verified X.509 v1/v2 client leaves
    std::atomic<uint64_t> resumed{0};             // handshakes that resumed a ticket
    std::atomic<uint64_t> hello_retries{0};       // handshakes completed after a HelloRetryRequest
    std::atomic<uint64_t> tickets_issued{0};
    std::array<std::atomic<uint64_t>, ticket_refusal_count> tickets_refused{};
    // Connections whose records went to the kernel after the handshake
    // (kTLS), and those of a kernel-records listener that stayed in
    // userspace (a suite the kernel cannot take, the ULP refused).
    std::atomic<uint64_t> ktls_connections{0};
    std::atomic<uint64_t> ktls_fallbacks{0};
    // Pooled TLS upstream connections likewise (ktls = "on", after their
    // first exchange), and those closed by the origin's TLS 1.3 KeyUpdate,
    // which the kernel cannot follow.
    std::atomic<uint64_t> ktls_upstream_connections{0};
    std::atomic<uint64_t> ktls_upstream_fallbacks{0};
    std::atomic<uint64_t> ktls_upstream_key_updates{0};
    // tcp-mode connections spliced (kTLS both ways, pipes to the upstream),
    // and those that copied because no pipe could be had.
    std::atomic<uint64_t> splice_connections{0};
    std::atomic<uint64_t> splice_fallbacks{0};
    std::atomic<uint64_t> http_requests{0};         // HTTP mode: request heads received
    std::atomic<uint64_t> http_client_errors{0};    // refused by tlsterm (4xx, 501)
    std::atomic<uint64_t> http_upstream_errors{0};  // 502/503/504 answered, or a response cut short

    void count(close_reason r) {
        closed[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    }
};

}  // namespace tlsterm
