// The TLS side of one listener: a WOLFSSL_CTX per configured certificate
// (one context holds one certificate), all with the listener's versions,
// suites, groups and signature schemes, plus the table that picks one for a
// ClientHello.
//
// Selection, by the ClientHello's server name (lower-cased):
//   1. an exact name, then a "*.suffix" wildcard covering exactly one label,
//      then the listener's default (the first certificate of each key type);
//   2. within that entry, ECDSA when the client can verify it, else RSA;
//      when the entry has only one key type, that one.
// Client certificates: the policy of the [[sni]] table naming the server
// name (exact, then one-label wildcard, then "" for a ClientHello without
// one), else the listener's. Each (certificate, policy) pair has its own
// context, since the CAs and verify mode live in the context.
// ALPN: the first protocol of the listener's list that the client offers
// (server preference); none in common is a no_application_protocol alert.
//
// Immutable after create(); one instance per shard, so wolfSSL_new never
// contends on a context shared between threads.
#pragma once

#include <array>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tlsterm/config.h>

#include "tls/client_auth.h"
#include "tls/client_hello.h"
#include "tls/ticket_keys.h"
#include "tls/wolfssl.h"

namespace tlsterm::tls {

struct ctx_deleter {
    void operator()(WOLFSSL_CTX* c) const { wolfSSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<WOLFSSL_CTX, ctx_deleter>;

// How the contexts of one listener and client-certificate policy seal and
// open session tickets: the ticket callback's context (session.h).
struct ticket_issuer {
    std::shared_ptr<ticket_keys> keys;
    std::array<uint8_t, 16> policy{};  // policy_digest()
    uint32_t lifetime_s = 0;
    client_auth_mode mode = client_auth_mode::none;
};

struct selection {
    WOLFSSL_CTX* ctx = nullptr;
    key_type type = key_type::ecdsa;
    std::size_t certificate_index = 0;         // into listener_tls_config::certificates
    std::string alpn;                          // chosen protocol; empty when none
    bool alpn_mismatch = false;                // client offered ALPN, nothing in common
    std::span<const std::string> server_alpn;  // the listener's list
    const auth_policy* auth = nullptr;         // client certificate policy
};

class server_context {
  public:
    // `tickets`: the keys session tickets are sealed with (shared by every
    // shard and generation that issues them); nullptr when the listener's
    // session_tickets is off.
    static std::expected<std::unique_ptr<server_context>, std::string> create(
        const std::string& listener, const listener_tls_config& config,
        const trust_anchors& anchors, std::shared_ptr<ticket_keys> tickets = nullptr);

    selection select(const client_hello& hello) const;
    const listener_tls_config& config() const { return _config; }
    // refuse_hello() under this listener's versions, groups and suites.
    std::optional<hello_refusal> refuse(const client_hello& hello) const;

    // The client-certificate policy a ClientHello naming `server_name`
    // ("" for none) is verified under; equal indexes mean the same policy.
    std::size_t policy_for(const std::string& server_name) const;

  private:
    server_context() = default;

    // Certificate indexes per key type for one name; -1 when none.
    struct entry {
        std::array<int, 2> by_type{-1, -1};
    };

    listener_tls_config _config;
    std::vector<auth_policy> _policies;  // [0] the listener's, then one per [[sni]]
    std::vector<std::unique_ptr<ticket_issuer>> _issuers;  // per policy; empty: no tickets
    std::vector<std::vector<ctx_ptr>> _contexts;           // [certificate][policy]
    std::unordered_map<std::string, entry> _exact;
    std::unordered_map<std::string, entry> _wildcard;  // key: suffix after "*."
    entry _default;
    std::unordered_map<std::string, std::size_t> _policy_exact;
    std::unordered_map<std::string, std::size_t> _policy_wildcard;
    std::size_t _policy_no_name = 0;
    std::vector<uint16_t> _group_ids;  // IANA ids of _config.groups
    std::vector<uint16_t> _suite_ids;  // IANA ids of the suites some certificate serves
};

}  // namespace tlsterm::tls
