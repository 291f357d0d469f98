#include "tls/security_defaults.h"

// Features tlsterm relies on being absent from the wolfSSL build
// (tools/build-wolfssl). Each would change what a handshake can do behind
// tlsterm's back; turning one on means deciding it here first.
#if defined(HAVE_SECURE_RENEGOTIATION)
#error "renegotiation: tlsterm refuses it (a renegotiated client identity is never re-checked)"
#endif
#if defined(WOLFSSL_POST_HANDSHAKE_AUTH)
#error "post-handshake auth: a certificate after the handshake would bypass the handshake's checks"
#endif
#if defined(WOLFSSL_EARLY_DATA)
#error "early data: 0-RTT is replayable; it needs its own design before it is built in"
#endif
#if defined(HAVE_TRUNCATED_HMAC)
#error "truncated HMAC (RFC 6066): 80-bit MACs, known forgery attacks"
#endif
#if defined(HAVE_MAX_FRAGMENT)
#error "max_fragment_length: tlsterm sizes records and buffers for 16 KiB records"
#endif
#if defined(HAVE_LIBZ)
#error "TLS compression: CRIME"
#endif
#if !defined(NO_PSK)
#error "external pre-shared keys: a PSK handshake authenticates no certificate"
#endif
// What tlsterm itself needs from the build.
#if !defined(WOLFSSL_EXTRA_ALERTS)
#error "a refused client certificate must get the alert that names why"
#endif
#if !defined(WOLFSSL_ALWAYS_VERIFY_CB)
#error "the verify callback must run for an accepted leaf: tlsterm's own checks live there"
#endif
#if !defined(HAVE_EXTENDED_MASTER)
#error "extended master secret (RFC 7627) binds the TLS 1.2 master secret to the handshake"
#endif
#if !defined(WOLFSSL_TLS13_MIDDLEBOX_COMPAT)
#error "middlebox compatibility (RFC 8446 D.4): OpenSSL peers and some middleboxes expect the CCS"
#endif
#if !defined(HAVE_SERVER_RENEGOTIATION_INFO)
#error "renegotiation_info (RFC 5746) tells TLS 1.2 clients that no renegotiation can be spliced in"
#endif
// Heartbeat (RFC 6520) is not implemented by wolfSSL at all.

namespace tlsterm::tls {

namespace {

// Settings both sides share.
bool apply_common(WOLFSSL_CTX* ctx) {
    bool ok = true;
    // Encrypt-then-MAC (RFC 7366): only CBC suites use it; where one is
    // negotiated (toward an origin), MAC-then-encrypt is the weaker choice.
    ok = ok && wolfSSL_CTX_AllowEncryptThenMac(ctx, 1) == WOLFSSL_SUCCESS;
    // No TLS compression, whatever a peer offers (CRIME).
    wolfSSL_CTX_set_options(ctx, WOLFSSL_OP_NO_COMPRESSION);
    // Extended master secret: on by default in this build (checked above)
    // and never disabled: wolfSSL_CTX_DisableExtendedMasterSecret is not
    // called anywhere in tlsterm.
    return ok;
}

}  // namespace

bool apply_server_defaults(WOLFSSL_CTX* ctx, SessionTicketEncCb ticket_cb) {
    if (!apply_common(ctx)) {
        return false;
    }
    bool ok = true;
    // Tickets: wolfSSL installs its own ticket callback (with a per-context
    // key) on every context; it is always replaced. Without any callback,
    // wolfSSL skips a client's ticket before its size check and never
    // issues one.
    ok = ok && wolfSSL_CTX_set_TicketEncCb(ctx, ticket_cb) == WOLFSSL_SUCCESS;
    if (ticket_cb == nullptr) {
        // ... and neither TLS 1.2 nor TLS 1.3 tickets are offered, should a
        // callback come back.
        ok = ok && wolfSSL_CTX_NoTicketTLSv12(ctx) == WOLFSSL_SUCCESS;
        ok = ok && wolfSSL_CTX_no_ticket_TLSv13(ctx) == 0;  // 0, not WOLFSSL_SUCCESS
    }
    // TLS 1.3 resumption keeps psk_dhe_ke (a fresh ECDHE per resumption):
    // wolfSSL_CTX_no_dhe_psk would also make OpenSSL clients, which offer
    // only psk_dhe_ke, fail with illegal_parameter instead of falling back
    // to a full handshake. It is not called anywhere in tlsterm.
    // Session cache: "off" alone still caches ticketed sessions in this
    // build (WOLFSSL_FORCE_CACHE_ON_TICKET) and still looks sessions up;
    // the internal cache is turned off for both. wolfSSL compares the mode
    // for "off" by equality, hence two calls.
    ok = ok && wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) == WOLFSSL_SUCCESS;
    ok = ok &&
         wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_NO_INTERNAL) == WOLFSSL_SUCCESS;
    return ok;
}

bool apply_client_defaults(WOLFSSL_CTX* ctx, bool resume) {
    if (!apply_common(ctx)) {
        return false;
    }
    bool ok = true;
    // The pool keeps the session it resumes (one per shard and upstream);
    // wolfSSL's process-wide cache, shared between shards behind locks,
    // holds nothing.
    ok = ok &&
         wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_NO_INTERNAL) == WOLFSSL_SUCCESS;
    if (resume) {
        // TLS 1.2 tickets must be asked for; TLS 1.3 ones need no request.
        ok = ok && wolfSSL_CTX_UseSessionTicket(ctx) == WOLFSSL_SUCCESS;
    } else {
        ok = ok &&
             wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) == WOLFSSL_SUCCESS;
    }
    // Post-handshake auth is never offered (wolfSSL_allow_post_handshake_auth
    // is not called) and no early data is sent: neither is compiled in.
    return ok;
}

}  // namespace tlsterm::tls
