// Reads the ClientHello from the first bytes a client sends, before any
// TLS session exists, so the shard can choose the certificate context (SNI,
// ECDSA or RSA) and the ALPN protocol by server preference. The bytes stay
// in the connection's buffer and are fed to wolfSSL unchanged afterwards.
//
// Bounded: a ClientHello larger than max_client_hello bytes is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tlsterm::tls {

inline constexpr std::size_t max_client_hello = 64 * 1024;

struct client_hello {
    std::string server_name;              // lower-cased; empty when absent
    std::vector<std::string> alpn;        // client order
    std::vector<uint16_t> cipher_suites;  // IANA code points
    std::vector<uint16_t> signature_schemes;
    std::vector<uint16_t> supported_versions;  // empty: TLS 1.2 or older only
    std::vector<uint16_t> groups;

    bool offers_tls13() const;
    // Whether the client can verify an ECDSA P-256 certificate's signature:
    // for TLS 1.3 an ecdsa_secp256r1_sha256 scheme; for TLS 1.2 also an
    // ECDHE_ECDSA cipher suite.
    bool accepts_ecdsa(bool tls13) const;
};

enum class hello_status : uint8_t {
    complete,   // `out` is filled
    need_more,  // the ClientHello continues in bytes not received yet
    not_tls,    // first bytes are not a TLS handshake record (plain HTTP, say)
    malformed,  // a TLS record, but not a well-formed ClientHello
    too_large,  // over max_client_hello
};

// Parses the records at the start of `data` (possibly several records
// carrying one ClientHello).
hello_status parse_client_hello(std::span<const uint8_t> data, client_hello& out);

const char* to_string(hello_status);

}  // namespace tlsterm::tls
