// TLS vocabulary shared by the config, the TLS module and later the
// connection and admin modules. Names (to_string) are the ones the config
// file uses; they are implemented by the TLS module (src/tls/ciphers.cc).
#pragma once

#include <cstdint>
#include <string_view>

namespace tlsterm {

enum class tls_version : uint8_t { tls1_2, tls1_3 };
enum class client_auth_mode : uint8_t { none, optional, require };

// Named key-exchange groups, in the order the server prefers them.
enum class tls_group : uint8_t { x25519, p256, p384, p521 };

// TLS 1.3 SignatureScheme code points (RFC 8446 section 4.2.3).
enum class signature_scheme : uint16_t {
    rsa_pkcs1_sha256 = 0x0401,
    rsa_pkcs1_sha384 = 0x0501,
    rsa_pkcs1_sha512 = 0x0601,
    ecdsa_secp256r1_sha256 = 0x0403,
    ecdsa_secp384r1_sha384 = 0x0503,
    ecdsa_secp521r1_sha512 = 0x0603,
    rsa_pss_rsae_sha256 = 0x0804,
    rsa_pss_rsae_sha384 = 0x0805,
    rsa_pss_rsae_sha512 = 0x0806,
};

std::string_view to_string(tls_version);
std::string_view to_string(client_auth_mode);
std::string_view to_string(tls_group);
std::string_view to_string(signature_scheme);

enum class key_type : uint8_t { ecdsa, rsa };

// What a certificate issued by a CA needs in the way of a CRL.
enum class crl_policy : uint8_t {
    required,   // no current CRL for the issuer: the certificate fails
    optional,   // checked when a CRL is held, accepted when none is
    leaf_only,  // required for client (leaf) certificates, CA certificates unchecked
};
std::string_view to_string(crl_policy);

// What a CRL past its nextUpdate does to the certificates it covers.
enum class stale_crl_policy : uint8_t {
    reject,  // the certificate fails
    grace,   // accepted (with a warning) for crl_grace_s after nextUpdate, then rejected
    warn,    // accepted with a warning
};
std::string_view to_string(stale_crl_policy);

}  // namespace tlsterm
