// The TLS parameters tlsterm offers, by the names the config uses. Only
// forward-secret AEAD suites exist here: CBC, RSA key exchange and static
// DH are not offered at all, whatever the config says.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <tlsterm/tls_types.h>

namespace tlsterm::tls {

struct cipher_suite {
    std::string_view name;          // name in the config (OpenSSL or IANA style)
    std::string_view wolfssl_name;  // name wolfSSL_CTX_set_cipher_list takes
    tls_version version;
    key_type auth;  // TLS 1.2: the certificate key the suite signs with; unused for TLS 1.3
    uint16_t code;  // IANA code point

    // TLS 1.3 suites work with any certificate; TLS 1.2 ones with one key type.
    bool works_with(key_type certificate) const {
        return version == tls_version::tls1_3 || auth == certificate;
    }
};

std::span<const cipher_suite> supported_cipher_suites();
const cipher_suite* find_cipher_suite(std::string_view name, tls_version version);
// The standard (IANA for TLS 1.3, OpenSSL for TLS 1.2) name of a suite
// wolfSSL reports by its own name; the wolfSSL name when unknown.
std::string_view standard_cipher_name(std::string_view wolfssl_name);

std::optional<tls_group> parse_group(std::string_view name);
std::optional<signature_scheme> parse_signature_scheme(std::string_view name);
std::optional<tls_version> parse_version(std::string_view name);

}  // namespace tlsterm::tls
