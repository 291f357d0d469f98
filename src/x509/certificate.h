// The fields of an X.509 certificate that revocation, client-certificate
// and client-identity checks need (crl/, tls/ and http/ alike), read with the bounds-checked DER
// reader. Signature and chain validation are the TLS library's job; this only extracts.
#pragma once

#include <cstdint>
#include <ctime>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tlsterm::x509 {

struct certificate {
    int version = 1;                   // X.509 version: 1, 2 or 3
    bool has_extensions = false;       // an extensions field is present (v3 only)
    std::vector<uint8_t> serial;       // INTEGER contents, sign padding dropped
    std::vector<uint8_t> issuer_der;   // Name, DER
    std::vector<uint8_t> subject_der;  // Name, DER
    std::vector<uint8_t> spki_der;     // SubjectPublicKeyInfo, DER
    std::time_t not_before = 0;
    std::time_t not_after = 0;
    std::vector<uint8_t> authority_key_id;  // keyIdentifier; empty when absent
    std::vector<uint8_t> subject_key_id;    // empty when absent
    bool is_ca = false;                     // basicConstraints cA
    // keyUsage bits, bit n = KeyUsage bit n of RFC 5280 4.2.1.3
    // (digitalSignature = bit 0); nullopt when the extension is absent.
    std::optional<uint16_t> key_usage;
    // extendedKeyUsage purposes (OID contents); empty when absent.
    std::vector<std::vector<uint8_t>> extended_key_usage;
    std::vector<std::string> dns_names;  // subjectAltName entries by kind
    std::vector<std::string> emails;
    std::vector<std::string> uris;
    std::vector<std::string> crl_urls;  // http(s) URIs of cRLDistributionPoints

    // Subject equals issuer: a root (or a self-issued key rollover cert).
    bool self_issued() const { return subject_der == issuer_der; }
    // Why this certificate may not authenticate a TLS client (RFC 5280
    // 4.2.1.3, 4.2.1.9, 4.2.1.12), or "" when it may: a CA certificate, a
    // keyUsage without digitalSignature, an extendedKeyUsage without
    // clientAuth or anyExtendedKeyUsage.
    std::string client_auth_refusal() const;
};

std::expected<certificate, std::string> parse_certificate(std::span<const uint8_t> der);

// What a certificate's signature covers and is: views into the DER given.
struct signed_parts {
    std::span<const uint8_t> tbs_der;              // tbsCertificate, DER
    std::span<const uint8_t> signature_algorithm;  // the OID's content octets
    std::span<const uint8_t> signature;            // without the unused-bits octet
};
std::expected<signed_parts, std::string> split_certificate(std::span<const uint8_t> der);

// Drops leading 0x00 octets, keeping at least one.
std::span<const uint8_t> normalize_serial(std::span<const uint8_t> serial);

// Serial as colon-free upper-case hex, the way `openssl x509 -serial` prints it.
std::string serial_hex(std::span<const uint8_t> serial);

}  // namespace tlsterm::x509
