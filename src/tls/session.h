// One server-side TLS session as a pure transform: ciphertext in and out
// through byte queues, plaintext through read()/write(). wolfSSL never
// touches a socket; the connection owns all I/O and decides when to close.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_queue.h"
#include "tls/identity_cache.h"
#include "tls/server_context.h"
#include "tls/ticket.h"
#include "tls/wolfssl.h"

namespace tlsterm::tls {

enum class tls_status : uint8_t {
    ok,         // done (handshake complete / bytes produced)
    want_read,  // needs more ciphertext from the peer
    closed,     // the peer sent close_notify, or its transport ended (see truncated())
    failed,     // fatal; error() says why; an alert may be waiting in cipher_out()
};

class session {
  public:
    // A session on the context chosen for a ClientHello. nullptr when wolfSSL
    // cannot allocate one.
    // `crls` is the revocation state this handshake checks client
    // certificates against (unused when the policy requests none).
    // `identities` is the process's cache of the client identities its
    // tickets name (needed when the listener issues tickets).
    static std::unique_ptr<session> create(const selection& chosen,
                                           std::shared_ptr<const crl::store> crls = nullptr,
                                           identity_cache* identities = nullptr);
    // A client-side session toward an upstream on `ctx` (a client
    // context), sending `server_name` as SNI when not empty and offering
    // `resume` (a session from an earlier connection) when given. The
    // certificate must name `verify_name` when that is not empty.
    static std::unique_ptr<session> create_client(WOLFSSL_CTX* ctx, const std::string& server_name,
                                                  const std::string& verify_name,
                                                  WOLFSSL_SESSION* resume);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Points a context's I/O at session objects (server_context does this).
    static void install_io_callbacks(WOLFSSL_CTX* ctx);
    // wolfSSL's ticket callback for server contexts; its context is the
    // ticket_issuer of the context's listener and policy.
    static int ticket_callback(WOLFSSL* ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                               unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                               unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc,
                               unsigned char* ticket, int in_len, int* out_len, void* ctx);

    byte_queue& cipher_in() { return _in; }    // from the peer, not yet read by wolfSSL
    byte_queue& cipher_out() { return _out; }  // produced by wolfSSL, to send
    // The transport reached end of stream: wolfSSL sees a closed connection
    // once cipher_in() is drained.
    void set_transport_eof() { _transport_eof = true; }

    tls_status handshake();
    bool handshake_done() const { return _done; }

    struct read_result {
        tls_status status;
        std::size_t bytes;
    };
    // Decrypts into `out`. ok with bytes > 0, or want_read/closed/failed.
    read_result read(std::span<uint8_t> out);
    // Encrypts all of `in` into cipher_out().
    tls_status write(std::span<const uint8_t> in);
    // read() has something to give now: a whole record in cipher_in() (or
    // the start of one the transport's end cut), or a record wolfSSL
    // decrypted and holds.
    bool input_pending() const;
    // wolfSSL is given whole records only. After read() wanted more, what
    // cipher_in() holds is at most the start of one record: the bytes still
    // missing from it (the header's first, when even that is short), or 0
    // when it holds none. Reading exactly these (and again, until 0) leaves
    // the stream at a record boundary with nothing of it in wolfSSL.
    std::size_t record_remainder() const;
    // Queues a close_notify alert in cipher_out().
    void send_close_notify();

    std::string_view version() const;  // "TLSv1.3"
    bool tls13() const;                // the negotiated version is TLS 1.3
    std::string_view cipher() const;   // suite name as wolfSSL spells it
    std::string_view alpn() const;     // negotiated protocol, empty when none
    key_type certificate_type() const { return _type; }
    const std::string& error() const { return _error; }
    int error_code() const { return _error_code; }  // wolfSSL's; 0 when none
    // The client certificate check of this handshake; nullptr when the
    // policy requests no certificate.
    const client_verifier* client_auth() const { return _verifier.get(); }
    // Client side: the server's leaf certificate, DER, as it was sent
    // (copied by client_verify_callback); empty when none. wolfSSL keeps
    // no peer certificate (built without session certs and without
    // KEEP_PEER_CERT); a server's is tlsterm's own copy, client_verifier.
    const std::vector<uint8_t>& peer_leaf() const { return _peer_leaf; }
    // The verify callback of client contexts: copies the server's leaf
    // and leaves wolfSSL's verdict as it is.
    static int client_verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store);
    // The handshake resumed an earlier session (either side).
    bool resumed() const;
    // Server side: why the first ticket the client offered was not
    // resumed, and a phrase naming the certificate when its identity was
    // refused; nullopt when none was refused.
    const std::optional<ticket_refusal>& ticket_refused() const { return _ticket_refused; }
    const std::string& ticket_refusal_detail() const { return _ticket_refusal_detail; }
    unsigned tickets_issued() const { return _tickets_issued; }
    // Server side: the first flight was a HelloRetryRequest (no key share
    // the client sent was of a group this listener serves), as seen in
    // the bytes wolfSSL wrote.
    bool hello_retried() const { return _hello_retried; }
    // Client side: the session to offer on the next connection (owned by
    // the caller; free with wolfSSL_SESSION_free). nullptr when none.
    WOLFSSL_SESSION* take_session() const;
    WOLFSSL* raw() const { return _ssl; }
    // The stream ended with the transport's end, without close_notify.
    bool truncated() const { return _truncated; }

  private:
    session() = default;
    tls_status fail(int ret, const char* where);
    static int io_recv(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    static int io_send(WOLFSSL* ssl, char* buf, int sz, void* ctx);
    int seal(const ticket_issuer& issuer, const ticket_fields& f, unsigned char* ticket, int in_len,
             int* out_len);
    int open(const ticket_issuer& issuer, const ticket_fields& f, unsigned char* ticket, int in_len,
             int* out_len);
    int refuse_ticket(ticket_refusal why, std::string detail = {});
    void forget_opened();

    // wolfSSL 5.5.4 (TLS 1.3) calls the ticket callback once per server
    // suite for one PSK identity, and the first call decrypts in place
    // (then wolfSSL zeroes the state): later calls get the verdict and the
    // state of the first. Zeroed and freed when the handshake ends.
    struct opened_ticket_memo {
        const unsigned char* at = nullptr;
        std::array<uint8_t, 16> iv{};
        int ret = 0;
        int out_len = 0;
        std::array<uint8_t, 192> state{};
    };

    WOLFSSL* _ssl = nullptr;
    byte_queue _in;
    byte_queue _out;
    bool _transport_eof = false;
    std::size_t _record_left = 0;  // of the record being handed to wolfSSL
    bool _client = false;
    std::vector<uint8_t> _peer_leaf;  // client side: the server's leaf certificate
    bool _done = false;
    bool _truncated = false;
    bool _first_flight_sent = false;
    bool _hello_retried = false;
    key_type _type = key_type::ecdsa;
    std::string _error;
    int _error_code = 0;
    std::unique_ptr<client_verifier> _verifier;
    identity_cache* _identities = nullptr;
    std::unique_ptr<opened_ticket_memo> _opened;
    std::optional<ticket_refusal> _ticket_refused;
    std::string _ticket_refusal_detail;
    unsigned _tickets_issued = 0;
};

}  // namespace tlsterm::tls
