#include "tls/ciphers.h"

#include <array>
#include <utility>

namespace tlsterm {

std::string_view to_string(tls_version v) {
    switch (v) {
        case tls_version::tls1_2:
            return "1.2";
        case tls_version::tls1_3:
            return "1.3";
    }
    return "?";
}

std::string_view to_string(crl_policy p) {
    switch (p) {
        case crl_policy::required:
            return "required";
        case crl_policy::optional:
            return "optional";
        case crl_policy::leaf_only:
            return "leaf-only";
    }
    return "?";
}

std::string_view to_string(stale_crl_policy p) {
    switch (p) {
        case stale_crl_policy::reject:
            return "reject";
        case stale_crl_policy::grace:
            return "grace";
        case stale_crl_policy::warn:
            return "warn";
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

namespace tls {

namespace {

constexpr std::array suites = {
    cipher_suite{"TLS_AES_128_GCM_SHA256", "TLS13-AES128-GCM-SHA256", tls_version::tls1_3,
                 key_type::ecdsa, 0x1301},
    cipher_suite{"TLS_AES_256_GCM_SHA384", "TLS13-AES256-GCM-SHA384", tls_version::tls1_3,
                 key_type::ecdsa, 0x1302},
    cipher_suite{"TLS_CHACHA20_POLY1305_SHA256", "TLS13-CHACHA20-POLY1305-SHA256",
                 tls_version::tls1_3, key_type::ecdsa, 0x1303},
    cipher_suite{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
                 tls_version::tls1_2, key_type::ecdsa, 0xc02b},
    cipher_suite{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",
                 tls_version::tls1_2, key_type::ecdsa, 0xc02c},
    cipher_suite{"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305",
                 tls_version::tls1_2, key_type::ecdsa, 0xcca9},
    cipher_suite{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", tls_version::tls1_2,
                 key_type::rsa, 0xc02f},
    cipher_suite{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", tls_version::tls1_2,
                 key_type::rsa, 0xc030},
    cipher_suite{"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", tls_version::tls1_2,
                 key_type::rsa, 0xcca8},
};

constexpr std::array groups = {
    std::pair{std::string_view("X25519"), tls_group::x25519},
    std::pair{std::string_view("P-256"), tls_group::p256},
    std::pair{std::string_view("P-384"), tls_group::p384},
    std::pair{std::string_view("P-521"), tls_group::p521},
};

constexpr std::array schemes = {
    signature_scheme::ecdsa_secp256r1_sha256, signature_scheme::ecdsa_secp384r1_sha384,
    signature_scheme::ecdsa_secp521r1_sha512, signature_scheme::rsa_pss_rsae_sha256,
    signature_scheme::rsa_pss_rsae_sha384,    signature_scheme::rsa_pss_rsae_sha512,
    signature_scheme::rsa_pkcs1_sha256,       signature_scheme::rsa_pkcs1_sha384,
    signature_scheme::rsa_pkcs1_sha512,
};

}  // namespace

std::span<const cipher_suite> supported_cipher_suites() {
    return suites;
}

const cipher_suite* find_cipher_suite(std::string_view name, tls_version version) {
    for (const auto& s : suites) {
        if (s.name == name && s.version == version) {
            return &s;
        }
    }
    return nullptr;
}

std::string_view standard_cipher_name(std::string_view wolfssl_name) {
    for (const auto& s : supported_cipher_suites()) {
        if (s.wolfssl_name == wolfssl_name) {
            return s.name;
        }
    }
    return wolfssl_name;
}

std::optional<tls_group> parse_group(std::string_view name) {
    for (const auto& [n, g] : groups) {
        if (n == name) {
            return g;
        }
    }
    return std::nullopt;
}

std::optional<signature_scheme> parse_signature_scheme(std::string_view name) {
    for (auto s : schemes) {
        if (to_string(s) == name) {
            return s;
        }
    }
    return std::nullopt;
}

std::optional<tls_version> parse_version(std::string_view name) {
    if (name == "1.2") {
        return tls_version::tls1_2;
    }
    if (name == "1.3") {
        return tls_version::tls1_3;
    }
    return std::nullopt;
}

}  // namespace tls
}  // namespace tlsterm
