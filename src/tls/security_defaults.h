// The one place where tlsterm decides the wolfSSL behaviours that matter for
// security, instead of inheriting them. Every server context and every
// upstream client context passes through here; each setting has its reason
// beside it in security_defaults.cc, and the features tlsterm relies on
// being compiled out fail the build if they appear.
//
// Server contexts:
//   - session tickets only when the listener issues them, and then only
//     tlsterm's own (`ticket_cb`, session.h: sealed with the listener's
//     keys, bound to its client-certificate policy and the verified
//     identity). Without a callback, none is issued and wolfSSL ignores a
//     client's ticket before looking at it;
//   - no session cache, neither stored nor looked up, so TLS 1.2 session-ID
//     resumption is impossible;
//   - no renegotiation (a ClientHello after the handshake is refused), the
//     RFC 5746 renegotiation_info extension sent so clients know;
//   - no post-handshake auth, no early data, no max_fragment_length, no
//     truncated HMAC, no compression, no heartbeat (none compiled in);
//   - extended master secret and encrypt-then-MAC offered and accepted.
#pragma once

#include "tls/wolfssl.h"

namespace tlsterm::tls {

// Applies the server settings above to `ctx`. False when wolfSSL refused
// one (the context must then not be used).
bool apply_server_defaults(WOLFSSL_CTX* ctx, SessionTicketEncCb ticket_cb);

// Upstream client contexts: the same, except that a pool may resume its own
// sessions toward the origin (`resume`: TLS 1.2 tickets requested; the
// session is kept by the pool, never by wolfSSL's shared cache).
bool apply_client_defaults(WOLFSSL_CTX* ctx, bool resume);

}  // namespace tlsterm::tls
