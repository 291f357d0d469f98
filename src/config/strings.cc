#include <tlsterm/config.h>

namespace tlsterm {

std::string config_origin::to_string() const {
    std::string pos = file;
    if (line != 0) {
        pos += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    if (key_path.empty()) {
        return pos;
    }
    return key_path + " (" + pos + ")";
}

std::string config_error::to_string() const { return origin.to_string() + ": " + message; }

std::string_view to_string(tls_version v) {
    switch (v) {
        case tls_version::tls1_2:
            return "1.2";
        case tls_version::tls1_3:
            return "1.3";
    }
    return "?";
}

std::string_view to_string(client_auth_mode m) {
    switch (m) {
        case client_auth_mode::none:
            return "none";
        case client_auth_mode::optional:
            return "optional";
        case client_auth_mode::require:
            return "require";
    }
    return "?";
}

std::string_view to_string(log_level l) {
    switch (l) {
        case log_level::error:
            return "error";
        case log_level::warn:
            return "warn";
        case log_level::info:
            return "info";
        case log_level::debug:
            return "debug";
    }
    return "?";
}

std::string_view to_string(tls_group g) {
    switch (g) {
        case tls_group::x25519:
            return "X25519";
        case tls_group::p256:
            return "P-256";
        case tls_group::p384:
            return "P-384";
        case tls_group::p521:
            return "P-521";
    }
    return "?";
}

std::string_view to_string(signature_scheme s) {
    switch (s) {
        case signature_scheme::rsa_pkcs1_sha256:
            return "rsa_pkcs1_sha256";
        case signature_scheme::rsa_pkcs1_sha384:
            return "rsa_pkcs1_sha384";
        case signature_scheme::rsa_pkcs1_sha512:
            return "rsa_pkcs1_sha512";
        case signature_scheme::ecdsa_secp256r1_sha256:
            return "ecdsa_secp256r1_sha256";
        case signature_scheme::ecdsa_secp384r1_sha384:
            return "ecdsa_secp384r1_sha384";
        case signature_scheme::ecdsa_secp521r1_sha512:
            return "ecdsa_secp521r1_sha512";
        case signature_scheme::rsa_pss_rsae_sha256:
            return "rsa_pss_rsae_sha256";
        case signature_scheme::rsa_pss_rsae_sha384:
            return "rsa_pss_rsae_sha384";
        case signature_scheme::rsa_pss_rsae_sha512:
            return "rsa_pss_rsae_sha512";
    }
    return "?";
}

}  // namespace tlsterm
