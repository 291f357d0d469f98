#include "upstream/client_context.h"

#include <algorithm>
#include <array>

#include "common/file.h"
#include "crl/crl_file.h"
#include "crl/verify.h"
#include "tls/credentials.h"
#include "tls/security_defaults.h"
#include "x509/certificate.h"
#include "x509/name.h"

#include <wolfssl/wolfcrypt/sha256.h>

namespace tlsterm::upstream {

client_context::~client_context() {
    if (_ctx != nullptr) {
        wolfSSL_CTX_free(_ctx);
    }
}

std::expected<std::unique_ptr<client_context>, std::string> client_context::create(
    const upstream_tls_config& config) {
    tls::init_library();
    std::unique_ptr<client_context> c(new client_context());
    c->_config = &config;
    c->_ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (c->_ctx == nullptr) {
        return std::unexpected(std::string("out of memory creating a TLS client context"));
    }
    WOLFSSL_CTX* ctx = c->_ctx;
    tls::session::install_io_callbacks(ctx);
    wolfSSL_CTX_SetMinVersion(
        ctx, config.min_version == tls_version::tls1_3 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2);

    const file_ref& ca = config.ca_file ? *config.ca_file : config.system_ca_file;
    auto bundle = read_file(ca.path);
    if (!bundle) {
        return std::unexpected(bundle.error());
    }
    if (wolfSSL_CTX_load_verify_buffer(ctx, reinterpret_cast<const unsigned char*>(bundle->data()),
                                       static_cast<long>(bundle->size()),
                                       WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        return std::unexpected(ca.path.string() + ": CA bundle refused by the TLS library");
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, &tls::session::client_verify_callback);

    if (config.cert) {
        auto chain = read_file(config.cert->path);
        auto key = read_file(config.key->path);
        if (!chain || !key) {
            return std::unexpected(!chain ? chain.error() : key.error());
        }
        std::string password;
        if (config.key_password_file) {
            auto secret = read_secret_file(config.key_password_file->path);
            if (!secret) {
                return std::unexpected(secret.error());
            }
            password = std::move(*secret);
        }
        auto der = tls::private_key_der(*key, password);
        if (!der) {
            return std::unexpected(config.key->path.string() + ": " + der.error());
        }
        if (wolfSSL_CTX_use_certificate_chain_buffer(
                ctx, reinterpret_cast<const unsigned char*>(chain->data()),
                static_cast<long>(chain->size())) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_use_PrivateKey_buffer(ctx, der->data(), static_cast<long>(der->size()),
                                              WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
            return std::unexpected(config.cert->path.string() +
                                   ": client certificate or key refused by the TLS library");
        }
    }

    if (config.crl_file) {
        auto data = read_file(config.crl_file->path);
        if (!data) {
            return std::unexpected(data.error());
        }
        auto crls = crl::split_crl_file(*data);
        if (!crls) {
            return std::unexpected(config.crl_file->path.string() + ": " + crls.error());
        }
        // The origin's chain is short and its CRLs small: wolfSSL's own
        // CRL check, every certificate of the chain.
        if (wolfSSL_CTX_EnableCRL(ctx, WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS) {
            return std::unexpected(std::string("CRL checking unavailable in the TLS library"));
        }
        for (const auto& der : crls->ders) {
            if (wolfSSL_CTX_LoadCRLBuffer(ctx, der.data(), static_cast<long>(der.size()),
                                          WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
                return std::unexpected(config.crl_file->path.string() +
                                       ": CRL refused by the TLS library (not issued by a CA "
                                       "of ca_file?)");
            }
        }
    }
    if (!tls::apply_client_defaults(ctx, config.session_resumption)) {
        return std::unexpected(std::string("the TLS library refused a security setting"));
    }
    return c;
}

std::string client_context::check_peer(const tls::session& s) const {
    if (_config->pinned_spki.empty()) {
        return {};
    }
    if (s.resumed()) {
        // No certificate comes with a resumed handshake; the pool offers
        // only sessions of handshakes that passed this check (it keeps one
        // after check_peer), and a new configuration makes new pools.
        return {};
    }
    const auto& der = s.peer_leaf();
    if (der.empty()) {
        return "no certificate to check against pinned_spki";
    }
    auto leaf = x509::parse_certificate(der);
    if (!leaf) {
        return "origin certificate unreadable: " + leaf.error();
    }
    std::array<uint8_t, 32> digest{};
    wc_Sha256Hash(leaf->spki_der.data(), static_cast<word32>(leaf->spki_der.size()), digest.data());
    if (std::ranges::find(_config->pinned_spki, digest) == _config->pinned_spki.end()) {
        return "origin certificate " + x509::name_to_string(leaf->subject_der) +
               " matches no pinned_spki";
    }
    return {};
}

std::string client_context::describe_failure(const tls::session& s) {
    switch (s.error_code()) {
        case ASN_NO_SIGNER_E:
        case ASN_SELF_SIGNED_E:
            return "origin certificate not issued by a CA of ca_file (" + s.error() + ")";
        case DOMAIN_NAME_MISMATCH:
            return "origin certificate does not name the expected host (" + s.error() + ")";
        case ASN_AFTER_DATE_E:
            return "origin certificate expired (" + s.error() + ")";
        case ASN_BEFORE_DATE_E:
            return "origin certificate not yet valid (" + s.error() + ")";
        case CRL_CERT_REVOKED:
            return "origin certificate revoked (" + s.error() + ")";
        case CRL_MISSING:
            return "no CRL in crl_file for an issuer of the origin's chain (" + s.error() + ")";
        default:
            return s.error();
    }
}

}  // namespace tlsterm::upstream
