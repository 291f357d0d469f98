// Reads the ClientHello from the first bytes a client sends, before any
// TLS session exists, so the shard can choose the certificate context (SNI,
// ECDSA or RSA) and the ALPN protocol by server preference. The bytes stay
// in the connection's buffer and are fed to wolfSSL unchanged afterwards.
//
// Bounded: a ClientHello larger than max_client_hello bytes, or sent in
// records that add up to more than max_client_hello_wire, is refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tlsterm::tls {

// The largest ClientHello served: the handshake header, then a body with
// a full session id, max_cipher_suites suites, 255 compression methods and
// extensions as long as their 16-bit length allows (65,535 bytes). Hellos
// padded with key shares of groups the server does not know reach 30-64 KB
// and are served (RFC 8446 4.2.8); wolfSSL is built with the same bound on
// a handshake message (MAX_HANDSHAKE_SZ, tools/build-wolfssl). A larger
// hello gets decode_error.
inline constexpr std::size_t max_cipher_suites = 150;  // wolfSSL's WOLFSSL_MAX_SUITE_SZ / 2
inline constexpr std::size_t max_client_hello =
    4 + 2 + 32 + (1 + 32) + (2 + 2 * max_cipher_suites) + (1 + 255) + (2 + 65535);
inline constexpr std::size_t max_client_hello_wire = 2 * max_client_hello;

struct client_hello {
    uint16_t legacy_version = 0;          // ClientHello.legacy_version
    std::string server_name;              // lower-cased; empty when absent
    std::vector<std::string> alpn;        // client order
    std::vector<uint16_t> cipher_suites;  // IANA code points
    std::vector<uint16_t> signature_schemes;
    std::vector<uint16_t> supported_versions;  // empty: TLS 1.2 or older only
    std::vector<uint16_t> groups;              // empty when the extension is absent
    std::vector<uint16_t> extensions;          // every extension's type, client order
    struct key_share {
        uint16_t group = 0;
        std::vector<uint8_t> key_exchange;
    };
    std::vector<key_share> key_shares;  // TLS 1.3 key_share entries
    // The handshake records the ClientHello came in, rebuilt as records of
    // up to 2^14 bytes (the first record's version), and how many bytes of
    // the input they replace. A hello split into tiny records (even inside
    // its 4-byte header, which is valid TLS) reaches wolfSSL whole.
    std::vector<uint8_t> records;
    std::size_t consumed = 0;

    bool offers_tls13() const;
    // Whether the client can verify an ECDSA P-256 certificate's signature:
    // for TLS 1.3 an ecdsa_secp256r1_sha256 scheme; for TLS 1.2 also an
    // ECDHE_ECDSA cipher suite.
    bool accepts_ecdsa(bool tls13) const;
};

enum class hello_status : uint8_t {
    complete,         // `out` is filled
    need_more,        // the ClientHello continues in bytes not received yet
    not_tls,          // first bytes are not a TLS record (plain HTTP, SSLv2, ...)
    unexpected,       // a TLS record other than a non-empty handshake fragment
    record_overflow,  // a record longer than 2^14 bytes (RFC 8446 section 5.1)
    malformed,        // handshake records, but not a well-formed ClientHello
    too_large,        // over max_client_hello
};

// A TLS alert description (RFC 8446 section 6).
enum class alert : uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    record_overflow = 22,
    handshake_failure = 40,
    illegal_parameter = 47,
    decode_error = 50,
    protocol_version = 70,
    no_renegotiation = 100,
};

// The fatal alert that answers a ClientHello tlsterm's reader refused.
alert alert_for(hello_status);

// The 7 bytes of a plaintext fatal alert record.
std::array<uint8_t, 7> alert_record(alert a);

struct hello_refusal {
    alert what;
    std::string reason;  // one phrase for the log
};

// A ClientHello that no handshake under these settings can accept, refused
// before wolfSSL sees it (wolfSSL answers some of these with a retry
// request that cannot succeed, the wrong alert, or not at all): no TLS
// version in common or a legacy_version of SSL 3.0 or below (RFC 8446 D.5:
// protocol_version), no key-exchange group in common (handshake_failure),
// for TLS 1.3 an invalid key share of a group tlsterm serves
// (illegal_parameter, before anything is derived from it), no cipher suite
// of the version it would negotiate in common (handshake_failure).
// `groups` are IANA group ids, `suites` IANA suite ids (empty: not
// checked); `min`/`max` protocol versions (0x0303...).
std::optional<hello_refusal> refuse_hello(const client_hello& hello, uint16_t min_version,
                                          uint16_t max_version, std::span<const uint16_t> groups,
                                          std::span<const uint16_t> suites = {});

// Parses the records at the start of `data` (possibly several records
// carrying one ClientHello).
hello_status parse_client_hello(std::span<const uint8_t> data, client_hello& out);

const char* to_string(hello_status);

// The first flight a server wrote (`flight` starts with its first record)
// is a HelloRetryRequest: a ServerHello whose random is
// SHA-256("HelloRetryRequest") (RFC 8446 4.1.3).
bool is_hello_retry_request(std::span<const uint8_t> flight);

}  // namespace tlsterm::tls
