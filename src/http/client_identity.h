// How an HTTP upstream learns who the client is: the verified client
// certificate rendered as request headers, in the formats origins expect.
//
//  - rfc9440: Client-Cert (the leaf, DER as a structured-field byte
//    sequence, ":base64:") and Client-Cert-Chain (the intermediates).
//  - xfcc: Envoy's X-Forwarded-Client-Cert: Hash (SHA-256 of the leaf,
//    hex), Cert (URL-encoded PEM), Subject, URI and DNS subjectAltNames.
//  - fields: one header per fact, like nginx's $ssl_client_* variables:
//    X-Client-Verify (SUCCESS, FAILED:reason or NONE), X-Client-Subject,
//    X-Client-Issuer, X-Client-Serial, X-Client-Fingerprint (SHA-256 hex),
//    X-Client-Cert (URL-encoded PEM, as $ssl_client_escaped_cert).
//
// Whatever the format, every name any format can produce is listed by
// identity_header_names(): a proxy strips all of them from incoming
// requests, so a client can never supply its own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tlsterm/config.h>

namespace tlsterm::http {

using tlsterm::identity_format;  // none, rfc9440, xfcc, fields (config.h)

// What the TLS layer learned of the client's certificate.
struct client_identity {
    bool presented = false;
    bool verified = false;
    std::string failure;                              // the rejection reason when not verified
    std::span<const uint8_t> leaf_der;                // empty when none was presented
    std::vector<std::span<const uint8_t>> chain_der;  // intermediates, leaf excluded
};

struct header_field {
    std::string name;
    std::string value;
};

// The headers for `id` in `format` (none: no headers). A client without a verified certificate
// gets only what says so (X-Client-Verify in the fields format), never
// certificate data.
std::vector<header_field> identity_headers(identity_format format, const client_identity& id);

// Every header name identity_headers can produce, in any format (lower case).
std::span<const std::string_view> identity_header_names();

// Percent-encoding of everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view s);

}  // namespace tlsterm::http
