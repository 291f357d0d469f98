#include "memory_peer.h"

#include <stdexcept>

#include "support/pki.h"

namespace tlsterm::test {

memory_client::memory_client(const client_options& o) {
    tls::init_library();
    _ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (o.max_version != 0) {
        wolfSSL_CTX_set_max_proto_version(_ctx, o.max_version);
    }
    if (!o.ciphers.empty() && wolfSSL_CTX_set_cipher_list(_ctx, o.ciphers.c_str()) != 1) {
        throw std::runtime_error("client cipher list refused: " + o.ciphers);
    }
    if (!o.sigalgs.empty() && wolfSSL_CTX_set1_sigalgs_list(_ctx, o.sigalgs.c_str()) != 1) {
        throw std::runtime_error("client sigalgs refused: " + o.sigalgs);
    }
    // The callback records the server's subject (wolfSSL keeps no peer
    // certificate in tlsterm's build).
    if (o.ca_file.empty()) {
        wolfSSL_CTX_set_verify(_ctx, WOLFSSL_VERIFY_NONE, &memory_client::verify_callback);
    } else {
        if (wolfSSL_CTX_load_verify_locations(_ctx, o.ca_file.c_str(), nullptr) != 1) {
            throw std::runtime_error("cannot load " + o.ca_file);
        }
        _verify = true;
        wolfSSL_CTX_set_verify(_ctx, WOLFSSL_VERIFY_PEER, &memory_client::verify_callback);
    }
    wolfSSL_CTX_SetIORecv(_ctx, io_recv);
    wolfSSL_CTX_SetIOSend(_ctx, io_send);
    _ssl = wolfSSL_new(_ctx);
    wolfSSL_SetIOReadCtx(_ssl, this);
    wolfSSL_SetIOWriteCtx(_ssl, this);
    wolfSSL_SetCertCbCtx(_ssl, this);
    if (!o.sni.empty()) {
        wolfSSL_UseSNI(_ssl, WOLFSSL_SNI_HOST_NAME, o.sni.data(),
                       static_cast<unsigned short>(o.sni.size()));
    }
    if (!o.alpn.empty()) {
        std::string list = o.alpn;
        wolfSSL_UseALPN(_ssl, list.data(), static_cast<unsigned>(list.size()),
                        WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
    }
}

memory_client::~memory_client() {
    wolfSSL_free(_ssl);
    wolfSSL_CTX_free(_ctx);
}

int memory_client::io_recv(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto& c = *static_cast<memory_client*>(ctx);
    if (c._in.empty()) {
        return WOLFSSL_CBIO_ERR_WANT_READ;
    }
    return static_cast<int>(
        c._in.read_into(std::span(reinterpret_cast<uint8_t*>(buf), static_cast<std::size_t>(sz))));
}

int memory_client::io_send(WOLFSSL*, char* buf, int sz, void* ctx) {
    auto& c = *static_cast<memory_client*>(ctx);
    c._out.append(std::span(reinterpret_cast<const uint8_t*>(buf), static_cast<std::size_t>(sz)));
    return sz;
}

int memory_client::connect() {
    int ret = wolfSSL_connect(_ssl);
    if (ret == WOLFSSL_SUCCESS) {
        _connected = true;
        return 1;
    }
    return wolfSSL_get_error(_ssl, ret) == WOLFSSL_ERROR_WANT_READ ? 0 : -1;
}

std::string memory_client::read_all() {
    std::string out;
    char buf[16384];
    for (;;) {
        int n = wolfSSL_read(_ssl, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

void memory_client::write(const std::string& s) {
    if (wolfSSL_write(_ssl, s.data(), static_cast<int>(s.size())) != static_cast<int>(s.size())) {
        throw std::runtime_error("client write failed");
    }
}

int memory_client::verify_callback(int preverify_ok, WOLFSSL_X509_STORE_CTX* store) {
    auto* c = static_cast<memory_client*>(store->userCtx);
    if (c == nullptr) {
        return preverify_ok;
    }
    if (store->error_depth == 0 && store->current_cert != nullptr) {
        char buf[256] = {};
        wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(store->current_cert), buf,
                                  sizeof(buf) - 1);
        c->_peer_subject = buf;
    }
    return c->_verify ? preverify_ok : 1;  // without a CA file nothing is verified
}

std::shared_ptr<const config> one_listener_config(const std::string& tls_lines) {
    std::string text = R"(
[[upstreams]]
name = "u"
addresses = ["127.0.0.1:1"]
[[listeners]]
name = "l"
address = "127.0.0.1:0"
upstream = "u"
[listeners.tls]
)" + tls_lines + "\n" + certificate_tables("");
    auto c = load_config_from_string(text, "t.toml", pki_dir());
    if (!c) {
        throw std::runtime_error(c.error().to_string());
    }
    return *c;
}

bool pump_handshake(memory_client& c, tls::session& s, int max_rounds) {
    for (int i = 0; i < max_rounds; ++i) {
        int cr = c.connect();
        s.cipher_in().append(c.out().readable());
        c.out().clear();
        auto st = s.handshake();
        c.in().append(s.cipher_out().readable());
        s.cipher_out().clear();
        if (cr < 0 || st == tls::tls_status::failed) {
            // Let the client read the alert.
            c.connect();
            return false;
        }
        if (cr == 1 && st == tls::tls_status::ok) {
            return true;
        }
    }
    return false;
}

}  // namespace tlsterm::test
