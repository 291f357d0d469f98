#include "tls/session.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <limits>

#include "tls/client_hello.h"

namespace tlsterm::tls {

void session::install_io_callbacks(WOLFSSL_CTX* ctx) {
    wolfSSL_CTX_SetIORecv(ctx, &session::io_recv);
    wolfSSL_CTX_SetIOSend(ctx, &session::io_send);
}

namespace {

constexpr std::size_t record_header_size = 5;
// The largest record a peer may send (RFC 5246 6.2.3: 2^14 + 2048 bytes of
// ciphertext); a header claiming more is passed on for wolfSSL to refuse.
constexpr std::size_t largest_record = record_header_size + (1u << 14) + 2048;

// The size of the record whose header starts `bytes` (at least 5 of them).
std::size_t record_size(std::span<const uint8_t> bytes) {
    return record_header_size + (static_cast<std::size_t>(bytes[3]) << 8 | bytes[4]);
}

}  // namespace

// wolfSSL gets whole records only: a record not yet complete stays in the
// input queue (where record_remainder() sees it), so that once wolfSSL
// wants more, everything it was given is processed and the next record
// starts at the head of the queue: the boundary where the kernel can take
// the socket's records over.
int session::io_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto& s = *static_cast<session*>(ctx);
    if (s._record_left == 0) {
        std::span<const uint8_t> in = s._in.readable();
        if (in.size() >= record_header_size) {
            std::size_t size = record_size(in);
            if (size > largest_record || size <= in.size() || s._transport_eof) {
                s._record_left = size > largest_record ? in.size() : size;
            }
        } else if (s._transport_eof) {
            s._record_left = in.size();  // a cut header: wolfSSL sees the truncation
        }
        if (s._record_left == 0) {
            return s._transport_eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
        }
    }
    std::size_t want = std::min(static_cast<std::size_t>(sz), s._record_left);
    std::size_t n = s._in.read_into(std::span(reinterpret_cast<uint8_t*>(buf), want));
    if (n == 0) {
        s._record_left = 0;
        return s._transport_eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    s._record_left -= n;
    return static_cast<int>(n);
}

std::size_t session::record_remainder() const {
    if (_record_left != 0) {
        return 0;  // wolfSSL is inside a record it was given whole
    }
    std::span<const uint8_t> in = _in.readable();
    if (in.empty()) {
        return 0;
    }
    if (in.size() < record_header_size) {
        return record_header_size - in.size();  // then the rest, once its length is known
    }
    std::size_t size = record_size(in);
    return size > in.size() ? size - in.size() : 0;
}

int session::io_send(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto& s = *static_cast<session*>(ctx);
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(buf), static_cast<std::size_t>(sz));
    if (!s._client && !s._first_flight_sent) {
        s._first_flight_sent = true;
        s._hello_retried = is_hello_retry_request(bytes);
    }
    s._out.append(bytes);
    return sz;
}

std::unique_ptr<session> session::create(const selection& chosen,
                                         std::shared_ptr<const crl::store> crls,
                                         identity_cache* identities) {
    std::unique_ptr<session> s(new session());
    s->_identities = identities;
    s->_ssl = wolfSSL_new(chosen.ctx);
    if (s->_ssl == nullptr) {
        return nullptr;
    }
    if (chosen.auth != nullptr && chosen.auth->mode != client_auth_mode::none) {
        if (!crls) {
            return nullptr;  // a verifying listener always has a store, if empty
        }
        s->_verifier = std::make_unique<client_verifier>(*chosen.auth, std::move(crls));
        wolfSSL_SetCertCbCtx(s->_ssl, s->_verifier.get());
    }
    s->_type = chosen.type;
    wolfSSL_SetIOReadCtx(s->_ssl, s.get());
    wolfSSL_SetIOWriteCtx(s->_ssl, s.get());
    if (!chosen.alpn.empty()) {
        // Only the protocol chosen by server preference: wolfSSL itself
        // would pick by the client's order.
        std::string name = chosen.alpn;
        wolfSSL_UseALPN(s->_ssl, name.data(), static_cast<unsigned>(name.size()),
                        WOLFSSL_ALPN_FAILED_ON_MISMATCH);
    } else if (chosen.alpn_mismatch) {
        // Nothing in common: with the listener's own list and no
        // continue-on-mismatch, wolfSSL answers no_application_protocol
        // (RFC 7301 section 3.2).
        std::string list;
        for (const auto& p : chosen.server_alpn) {
            list += (list.empty() ? "" : ",") + p;
        }
        wolfSSL_UseALPN(s->_ssl, list.data(), static_cast<unsigned>(list.size()),
                        WOLFSSL_ALPN_FAILED_ON_MISMATCH);
    }
    return s;
}

std::unique_ptr<session> session::create_client(WOLFSSL_CTX* ctx, const std::string& server_name,
                                                const std::string& verify_name,
                                                WOLFSSL_SESSION* resume) {
    std::unique_ptr<session> s(new session());
    s->_ssl = wolfSSL_new(ctx);
    if (s->_ssl == nullptr) {
        return nullptr;
    }
    s->_client = true;
    wolfSSL_SetIOReadCtx(s->_ssl, s.get());
    wolfSSL_SetIOWriteCtx(s->_ssl, s.get());
    wolfSSL_SetCertCbCtx(s->_ssl, s.get());  // for client_verify_callback
    if (!server_name.empty() &&
        wolfSSL_UseSNI(s->_ssl, WOLFSSL_SNI_HOST_NAME, server_name.data(),
                       static_cast<unsigned short>(server_name.size())) != WOLFSSL_SUCCESS) {
        return nullptr;
    }
    if (!verify_name.empty() &&
        wolfSSL_check_domain_name(s->_ssl, verify_name.c_str()) != WOLFSSL_SUCCESS) {
        return nullptr;
    }
    if (resume != nullptr) {
        wolfSSL_set_session(s->_ssl, resume);  // refused (expired, other context): a full handshake
    }
    return s;
}

session::~session() {
    forget_opened();
    if (_ssl != nullptr) {
        wolfSSL_free(_ssl);
    }
}

// ---- session tickets ------------------------------------------------------------

int session::ticket_callback(WOLFSSL* ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                             unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                             unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc,
                             unsigned char* ticket, int in_len, int* out_len, void* ctx) {
    auto* s = static_cast<session*>(wolfSSL_GetIOReadCtx(ssl));
    const auto* issuer = static_cast<const ticket_issuer*>(ctx);
    if (s == nullptr || issuer == nullptr || s->_client || ticket == nullptr ||
        out_len == nullptr || in_len <= 0) {
        return WOLFSSL_TICKET_RET_FATAL;
    }
    ticket_fields f{std::span<uint8_t, 16>(key_name, 16), std::span<uint8_t, 16>(iv, 16),
                    std::span<uint8_t, 32>(mac, 32)};
    return enc != 0 ? s->seal(*issuer, f, ticket, in_len, out_len)
                    : s->open(*issuer, f, ticket, in_len, out_len);
}

int session::seal(const ticket_issuer& issuer, const ticket_fields& f, unsigned char* ticket,
                  int in_len, int* out_len) {
    // *out_len is the room wolfSSL has (its state plus the padding).
    auto state = static_cast<std::size_t>(in_len);
    if (static_cast<std::size_t>(*out_len) < state + ticket_binding_size) {
        return WOLFSSL_TICKET_RET_FATAL;  // a build without the padding tlsterm sets
    }
    ticket_binding b;
    b.issued_at = static_cast<uint32_t>(std::time(nullptr));
    b.policy = issuer.policy;
    if (issuer.mode != client_auth_mode::none) {
        if (!_verifier || _verifier->rejected()) {
            return WOLFSSL_TICKET_RET_FATAL;
        }
        auto id = _verifier->ticket_identity(resumed());
        if (!id && (issuer.mode == client_auth_mode::require || _verifier->presented())) {
            // Nothing verified to bind: such a handshake is not
            // authenticated, and no ticket may say otherwise.
            return WOLFSSL_TICKET_RET_FATAL;
        }
        if (id) {
            if (_identities == nullptr) {
                return WOLFSSL_TICKET_RET_FATAL;
            }
            b.identity = id->leaf_sha256;
            _identities->insert(std::move(id));
        }
    }
    auto keys = issuer.keys->current();
    if (!keys || keys->keys.empty() ||
        !seal_ticket(keys->keys.front(), b, state,
                     std::span<uint8_t>(ticket, state + ticket_binding_size), f)) {
        return WOLFSSL_TICKET_RET_FATAL;
    }
    *out_len = static_cast<int>(state + ticket_binding_size);
    ++_tickets_issued;
    return WOLFSSL_TICKET_RET_OK;
}

int session::refuse_ticket(ticket_refusal why, std::string detail) {
    if (!_ticket_refused) {
        _ticket_refused = why;
        _ticket_refusal_detail = std::move(detail);
    }
    return WOLFSSL_TICKET_RET_REJECT;
}

int session::open(const ticket_issuer& issuer, const ticket_fields& f, unsigned char* ticket,
                  int in_len, int* out_len) {
    if (_opened && _opened->at == ticket &&
        std::equal(_opened->iv.begin(), _opened->iv.end(), f.iv.begin())) {
        // The same identity again, for another suite (see opened_ticket_memo).
        if (_opened->ret == WOLFSSL_TICKET_RET_REJECT) {
            return _opened->ret;
        }
        std::memcpy(ticket, _opened->state.data(), static_cast<std::size_t>(_opened->out_len));
        *out_len = _opened->out_len;
        return _opened->ret;
    }
    if (!_opened) {
        _opened = std::make_unique<opened_ticket_memo>();
    }
    // Whatever an earlier identity of this ClientHello restored is not
    // this ticket's: wolfSSL resumes the last one opened, if any.
    if (_verifier) {
        _verifier->clear_restored();
    }
    _opened->at = ticket;
    std::copy(f.iv.begin(), f.iv.end(), _opened->iv.begin());
    _opened->ret = WOLFSSL_TICKET_RET_REJECT;
    auto keys = issuer.keys->current();
    auto opened =
        open_ticket(*keys, std::span<uint8_t>(ticket, static_cast<std::size_t>(in_len)), f);
    if (!opened) {
        return refuse_ticket(opened.error());
    }
    const ticket_binding& b = opened->binding;
    std::time_t clock = std::time(nullptr);
    auto now = static_cast<uint32_t>(clock);
    if (b.issued_at > now + 60) {
        return refuse_ticket(ticket_refusal::invalid);  // not sealed by a sane clock
    }
    if (now - std::min(now, b.issued_at) > issuer.lifetime_s) {
        return refuse_ticket(ticket_refusal::expired);
    }
    if (b.policy != issuer.policy) {
        return refuse_ticket(ticket_refusal::policy);
    }
    if (b.identity) {
        if (issuer.mode == client_auth_mode::none || !_verifier) {
            return refuse_ticket(ticket_refusal::policy);
        }
        auto id = _identities != nullptr ? _identities->find(*b.identity) : nullptr;
        if (!id) {
            return refuse_ticket(ticket_refusal::identity_unknown);
        }
        if (auto r = _verifier->check_restored(std::move(id), clock)) {
            return refuse_ticket(r->reason == cert_reject::revoked ? ticket_refusal::revoked
                                                                   : ticket_refusal::certificate,
                                 r->detail);
        }
    } else if (issuer.mode == client_auth_mode::require) {
        return refuse_ticket(ticket_refusal::policy);
    }
    if (opened->state_size > _opened->state.size()) {
        return refuse_ticket(ticket_refusal::invalid);
    }
    *out_len = static_cast<int>(opened->state_size);
    // An old key's ticket: TLS 1.2 resumes and issues a new one under the
    // sealing key (tools/wolfssl-patches/0003); TLS 1.3 always issues one.
    bool tls13 = wolfSSL_version(_ssl) == TLS1_3_VERSION;
    int ret = opened->key_index != 0 && !tls13 ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
    _opened->ret = ret;
    _opened->out_len = *out_len;
    std::memcpy(_opened->state.data(), ticket, opened->state_size);
    return ret;
}

void session::forget_opened() {
    if (_opened) {
        explicit_bzero(_opened.get(), sizeof(*_opened));  // a resumption secret
        _opened.reset();
    }
}

tls_status session::fail(int ret, const char* where) {
    int err = wolfSSL_get_error(_ssl, ret);
    char text[WOLFSSL_MAX_ERROR_SZ] = {};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(err), text, sizeof(text));
    _error = std::string(where) + ": " + text + " (" + std::to_string(err) + ")";
    _error_code = err;
    return tls_status::failed;
}

tls_status session::handshake() {
    if (_done) {
        return tls_status::ok;
    }
    int ret = _client ? wolfSSL_connect(_ssl) : wolfSSL_accept(_ssl);
    if (ret == WOLFSSL_SUCCESS) {
        _done = true;
        forget_opened();
        if (_verifier) {
            _verifier->conclude(resumed());
        }
        return tls_status::ok;
    }
    int err = wolfSSL_get_error(_ssl, ret);
    if (err == WOLFSSL_ERROR_WANT_READ && !(_transport_eof && _in.empty())) {
        return tls_status::want_read;
    }
    if (err == WOLFSSL_ERROR_WANT_READ) {
        _error = "handshake: peer closed the connection";
        return tls_status::failed;
    }
    if (_verifier && err == NO_PEER_CERT) {
        _verifier->note_no_certificate();
    }
    return fail(ret, "handshake");
}

session::read_result session::read(std::span<uint8_t> out) {
    int want = static_cast<int>(std::min<std::size_t>(
        out.size(), static_cast<std::size_t>(std::numeric_limits<int>::max())));
    int ret = wolfSSL_read(_ssl, out.data(), want);
    if (ret > 0) {
        return {tls_status::ok, static_cast<std::size_t>(ret)};
    }
    int err = wolfSSL_get_error(_ssl, ret);
    if (err == WOLFSSL_ERROR_WANT_READ) {
        return {tls_status::want_read, 0};
    }
    if (err == WOLFSSL_ERROR_ZERO_RETURN) {
        return {tls_status::closed, 0};
    }
    if (err == SOCKET_PEER_CLOSED_E && _transport_eof && _in.empty()) {
        // Many clients end with a bare FIN; the proxy passes it on as a
        // half-close and records the truncation.
        _truncated = true;
        return {tls_status::closed, 0};
    }
    return {fail(ret, "read"), 0};
}

bool session::input_pending() const {
    if (wolfSSL_pending(_ssl) > 0) {
        return true;
    }
    // A record not yet whole is nothing read() can give (until the
    // transport's end makes it a truncation to report).
    return !_in.empty() && (record_remainder() == 0 || _transport_eof);
}

tls_status session::write(std::span<const uint8_t> in) {
    while (!in.empty()) {
        int chunk = static_cast<int>(std::min<std::size_t>(in.size(), 1u << 20));
        int ret = wolfSSL_write(_ssl, in.data(), chunk);
        if (ret <= 0) {
            return fail(ret, "write");
        }
        in = in.subspan(static_cast<std::size_t>(ret));
    }
    return tls_status::ok;
}

void session::send_close_notify() {
    wolfSSL_shutdown(_ssl);
}

std::string_view session::version() const {
    const char* v = wolfSSL_get_version(_ssl);
    return v != nullptr ? v : "";
}

bool session::tls13() const {
    return version() == "TLSv1.3";
}

std::string_view session::cipher() const {
    const char* c = wolfSSL_get_cipher_name(_ssl);
    return c != nullptr ? c : "";
}

std::string_view session::alpn() const {
    char* name = nullptr;
    unsigned short size = 0;
    if (wolfSSL_ALPN_GetProtocol(_ssl, &name, &size) != WOLFSSL_SUCCESS || name == nullptr) {
        return {};
    }
    return std::string_view(name, size);
}

int session::client_verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store) {
    auto* s = static_cast<session*>(store->userCtx);
    if (s != nullptr && store->error_depth == 0 && store->totalCerts > 0 &&
        store->certs != nullptr) {
        const auto& leaf = store->certs[0];
        s->_peer_leaf.assign(leaf.buffer, leaf.buffer + leaf.length);
    }
    return preverify_ok;  // wolfSSL's verdict, unchanged
}

bool session::resumed() const {
    return wolfSSL_session_reused(_ssl) == 1;
}

WOLFSSL_SESSION* session::take_session() const {
    return wolfSSL_get1_session(_ssl);
}

}  // namespace tlsterm::tls
