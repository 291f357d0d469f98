#include "tls/credentials.h"

#include <memory>

#include "common/pem.h"
#include "tls/wolfssl.h"

namespace tlsterm::tls {

namespace {

struct x509_deleter {
    void operator()(WOLFSSL_X509* x) const { wolfSSL_X509_free(x); }
};
using x509_ptr = std::unique_ptr<WOLFSSL_X509, x509_deleter>;

struct ctx_deleter {
    void operator()(WOLFSSL_CTX* c) const { wolfSSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<WOLFSSL_CTX, ctx_deleter>;

bool is_key_label(std::string_view label) {
    return label.ends_with("PRIVATE KEY");
}

std::string subject_of(WOLFSSL_X509* x) {
    char buf[512] = {};
    wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x), buf, sizeof(buf) - 1);
    return buf;
}

x509_ptr parse_der(const std::vector<uint8_t>& der) {
    return x509_ptr(wolfSSL_X509_load_certificate_buffer(der.data(), static_cast<int>(der.size()),
                                                         WOLFSSL_FILETYPE_ASN1));
}

// Certificates of a PEM text, in order. Private-key blocks are skipped (a
// combined cert+key file is common); any other label is an error.
std::expected<std::vector<std::pair<x509_ptr, std::vector<uint8_t>>>, std::string>
parse_certificates(std::string_view pem_text, std::string_view what) {
    if (!pem::looks_like_pem(pem_text)) {
        return std::unexpected(std::string(what) + " is not PEM (no BEGIN CERTIFICATE line)");
    }
    auto blocks = pem::decode_all(pem_text);
    if (!blocks) {
        return std::unexpected(std::string(what) + ": " + blocks.error());
    }
    std::vector<std::pair<x509_ptr, std::vector<uint8_t>>> out;
    for (std::size_t i = 0; i < blocks->size(); ++i) {
        auto& b = (*blocks)[i];
        if (is_key_label(b.label)) {
            continue;
        }
        if (b.label != "CERTIFICATE") {
            return std::unexpected(std::string(what) + ": PEM block " + std::to_string(i + 1) +
                                   " is \"" + b.label + "\", expected CERTIFICATE");
        }
        x509_ptr x = parse_der(b.der);
        if (!x) {
            return std::unexpected(std::string(what) + ": certificate " +
                                   std::to_string(out.size() + 1) +
                                   " is not a valid X.509 certificate");
        }
        out.emplace_back(std::move(x), std::move(b.der));
    }
    if (out.empty()) {
        return std::unexpected(std::string(what) + " contains no certificate");
    }
    return out;
}

}  // namespace

std::expected<std::vector<uint8_t>, std::string> private_key_der(std::string_view key_data,
                                                                 std::string_view password) {
    if (!pem::looks_like_pem(key_data)) {
        return std::vector<uint8_t>(key_data.begin(), key_data.end());
    }
    bool encrypted = key_data.find("ENCRYPTED") != std::string_view::npos;
    if (encrypted && password.empty()) {
        return std::unexpected(std::string("private key is encrypted and no password was given"));
    }
    if (encrypted) {
        // Both PKCS#8 "ENCRYPTED PRIVATE KEY" and the traditional
        // "Proc-Type: 4,ENCRYPTED" header.
        init_library();
        std::string pass(password);
        std::vector<uint8_t> der(key_data.size());
        int n = wolfSSL_KeyPemToDer(reinterpret_cast<const unsigned char*>(key_data.data()),
                                    static_cast<int>(key_data.size()), der.data(),
                                    static_cast<int>(der.size()), pass.c_str());
        if (n <= 0) {
            return std::unexpected(
                std::string("cannot decrypt the private key (wrong password or unsupported "
                            "encryption)"));
        }
        der.resize(static_cast<std::size_t>(n));
        return der;
    }
    auto blocks = pem::decode_all(key_data);
    if (!blocks) {
        return std::unexpected("private key: " + blocks.error());
    }
    for (auto& b : *blocks) {
        if (is_key_label(b.label)) {
            return std::move(b.der);
        }
    }
    return std::unexpected(std::string("no PRIVATE KEY block in the key file"));
}

std::expected<chain_info, credential_error> check_server_credentials(std::string_view chain_pem,
                                                                     std::string_view key_data,
                                                                     std::string_view password) {
    auto chain_error = [](std::string m) {
        return std::unexpected(credential_error{false, std::move(m)});
    };
    auto key_error = [](std::string m) {
        return std::unexpected(credential_error{true, std::move(m)});
    };
    init_library();
    auto certs = parse_certificates(chain_pem, "certificate chain");
    if (!certs) {
        return chain_error(certs.error());
    }

    chain_info info;
    info.length = certs->size();
    for (std::size_t i = 0; i + 1 < certs->size(); ++i) {
        WOLFSSL_X509* child = (*certs)[i].first.get();
        WOLFSSL_X509* parent = (*certs)[i + 1].first.get();
        if (wolfSSL_X509_NAME_cmp(wolfSSL_X509_get_issuer_name(child),
                                  wolfSSL_X509_get_subject_name(parent)) != 0) {
            return chain_error("certificate chain out of order: certificate " +
                               std::to_string(i + 2) + " (" + subject_of(parent) +
                               ") did not issue certificate " + std::to_string(i + 1) + " (" +
                               subject_of(child) + ")");
        }
    }

    WOLFSSL_X509* leaf = certs->front().first.get();
    switch (wolfSSL_X509_get_pubkey_type(leaf)) {
        case ECDSAk:
            info.type = key_type::ecdsa;
            break;
        case RSAk:
            info.type = key_type::rsa;
            break;
        default:
            return chain_error("leaf certificate (" + subject_of(leaf) +
                               ") has an unsupported key type (ECDSA or RSA expected)");
    }
    while (const char* name = wolfSSL_X509_get_next_altname(leaf)) {
        std::string_view n(name);
        // The iterator yields DNS and IP entries alike; SNI carries host
        // names only, so IP entries (they contain ':' or only digits and
        // dots) are not certificate names for selection.
        bool host_chars = n.find_first_not_of(
                              "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*") == std::string_view::npos;
        bool all_numeric = n.find_first_not_of("0123456789.") == std::string_view::npos;
        if (!n.empty() && host_chars && !all_numeric) {
            info.dns_names.emplace_back(n);
        }
    }

    auto key_der = private_key_der(key_data, password);
    if (!key_der) {
        return key_error(key_der.error());
    }

    ctx_ptr ctx(wolfSSL_CTX_new(wolfTLS_server_method()));
    if (!ctx) {
        return chain_error("out of memory creating a TLS context");
    }
    const auto& leaf_der = certs->front().second;
    if (wolfSSL_CTX_use_certificate_buffer(ctx.get(), leaf_der.data(),
                                           static_cast<long>(leaf_der.size()),
                                           WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        return chain_error("leaf certificate (" + subject_of(leaf) +
                           ") was refused by the TLS library");
    }
    if (wolfSSL_CTX_use_PrivateKey_buffer(ctx.get(), key_der->data(),
                                          static_cast<long>(key_der->size()),
                                          WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        return key_error("not a valid private key (PEM or DER; RSA, EC or PKCS#8)");
    }
    if (wolfSSL_CTX_check_private_key(ctx.get()) != WOLFSSL_SUCCESS) {
        return key_error("private key does not match the certificate (" + subject_of(leaf) + ")");
    }
    return info;
}

std::expected<std::vector<std::vector<uint8_t>>, std::string> check_ca_bundle(
    std::string_view bundle_pem) {
    init_library();
    auto certs = parse_certificates(bundle_pem, "CA bundle");
    if (!certs) {
        return std::unexpected(certs.error());
    }
    for (std::size_t i = 0; i < certs->size(); ++i) {
        WOLFSSL_X509* x = (*certs)[i].first.get();
        // An X.509 v1 certificate has no basicConstraints to say so; as a
        // configured anchor it is a CA (as OpenSSL treats v1 roots). It is
        // never one when a client sends it as an intermediate.
        if (wolfSSL_X509_get_isCA(x) != 1 && wolfSSL_X509_version(x) >= 3) {
            return std::unexpected("certificate " + std::to_string(i + 1) + " (" + subject_of(x) +
                                   ") is not a CA (basicConstraints CA:TRUE missing)");
        }
    }
    std::vector<std::vector<uint8_t>> der;
    for (auto& [x509, bytes] : *certs) {
        der.push_back(std::move(bytes));
    }
    return der;
}

}  // namespace tlsterm::tls
