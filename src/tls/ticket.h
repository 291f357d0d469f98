// What a tlsterm session ticket carries besides the TLS library's own state,
// and how it is sealed: pure functions over bytes, no sockets, no WOLFSSL.
//
// wolfSSL hands its ticket callback the session state (master secret,
// suite, version, times) in a buffer with WOLFSSL_TICKET_EXTRA_PADDING_SZ
// bytes of room after it (64 in tlsterm's build). tlsterm appends its
// binding there and seals both with AES-256-GCM:
//
//   key name (16)  | nonce (12) + 4 zero bytes | length (wolfSSL's) |
//   ciphertext of [wolfSSL state | binding (54)] | GCM tag (16) + 16 zero
//
// with the key name and the 16 IV bytes as associated data. The binding:
//   format (1) = 1, flags (1) (bit 0: a client identity follows),
//   issued_at (4, Unix seconds, big-endian),
//   policy digest (16): the listener and the client-certificate policy the
//     handshake ran under (policy_digest()),
//   identity (32): SHA-256 of the verified client certificate, or zeros.
//
// The identity's certificate chain and facts are not in the ticket (a chain
// is kilobytes; wolfSSL's tickets have a fixed size): the shard that
// verified it keeps them in its identity cache (identity_cache.h) under
// that digest. A ticket whose identity is not cached where it is offered
// gets a full handshake.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <expected>
#include <optional>
#include <span>
#include <string_view>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

#include "tls/ticket_keys.h"

namespace tlsterm::tls {

struct auth_policy;
struct trust_anchors;

inline constexpr std::size_t ticket_binding_size = 54;

struct ticket_binding {
    uint32_t issued_at = 0;
    std::array<uint8_t, 16> policy{};
    std::optional<std::array<uint8_t, 32>> identity;
};

// The ticket fields wolfSSL's callback passes around.
struct ticket_fields {
    std::span<uint8_t, 16> name;
    std::span<uint8_t, 16> iv;
    std::span<uint8_t, 32> mac;
};

// Seals `buffer` in place: its first `state_size` bytes are wolfSSL's state,
// the binding is written after them (buffer.size() must be state_size +
// ticket_binding_size). Fills name, iv and mac. False when the RNG or the
// cipher fails.
bool seal_ticket(const ticket_key& key, const ticket_binding& binding, std::size_t state_size,
                 std::span<uint8_t> buffer, const ticket_fields& out);

struct opened_ticket {
    ticket_binding binding;
    std::size_t state_size = 0;  // wolfSSL's state: the first bytes of the buffer
    std::size_t key_index = 0;   // 0: sealed with the current sealing key
};

// Opens a ticket in place with the key its name names. unknown_key: no key
// of `keys` has that name; invalid: the tag does not verify or the layout
// is not tlsterm's.
std::expected<opened_ticket, ticket_refusal> open_ticket(const ticket_key_set& keys,
                                                         std::span<uint8_t> buffer,
                                                         const ticket_fields& in);

// 16 bytes naming a listener and one of its client-certificate policies
// (mode, CAs by the SHA-256 of their DER and their CRL rules, depth,
// allow-lists, require_x509v3): equal digests, the same policy.
std::array<uint8_t, 16> policy_digest(std::string_view listener, const auth_policy& policy,
                                      const trust_anchors& anchors);

}  // namespace tlsterm::tls
