// TLS toward one upstream: a client WOLFSSL_CTX built from [upstreams.tls]
// (CA bundle or system store, minimum version, client certificate for mTLS,
// optional CRL for the origin's chain), plus the checks wolfSSL does not do
// itself: SPKI pins. Hostname verification and SNI are per session
// (tls::session::create_client).
//
// Immutable after create(); one per shard and upstream.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include <tlsterm/config.h>

#include "tls/session.h"
#include "tls/wolfssl.h"

namespace tlsterm::upstream {

class client_context {
  public:
    static std::expected<std::unique_ptr<client_context>, std::string> create(
        const upstream_tls_config& config);
    ~client_context();
    client_context(const client_context&) = delete;
    client_context& operator=(const client_context&) = delete;

    WOLFSSL_CTX* ctx() const { return _ctx; }
    const upstream_tls_config& config() const { return *_config; }

    // After a completed handshake: empty when the origin passes the checks
    // wolfSSL does not make (SPKI pins), else the reason it does not.
    std::string check_peer(const tls::session& s) const;

    // A failed handshake's error in words an operator acts on ("certificate
    // not issued by a trusted CA", "certificate does not name x", ...).
    static std::string describe_failure(const tls::session& s);

  private:
    client_context() = default;

    const upstream_tls_config* _config = nullptr;
    WOLFSSL_CTX* _ctx = nullptr;
};

}  // namespace tlsterm::upstream
