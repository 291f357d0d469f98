// Setup-time checks of certificate material, done with the same wolfSSL
// build that serves it, so `tlsterm --check` accepts exactly what a server
// start would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <tlsterm/tls_types.h>

namespace tlsterm::tls {

struct chain_info {
    key_type type = key_type::ecdsa;     // the leaf's public key
    std::vector<std::string> dns_names;  // the leaf's subjectAltName DNS entries
    std::size_t length = 0;              // certificates in the chain
};

// A problem with a certificate chain and its key: which of the two files
// it concerns, and a phrase naming it (without the file name: the caller
// has the config origin).
struct credential_error {
    bool in_key = false;  // true: the key file; false: the chain file
    std::string message;
};

// `chain_pem`: leaf first, then each issuer. `key_data`: PEM or DER private
// key. Checks every certificate parses, each is issued by the next, and the
// key matches the leaf. A mismatch is reported against the key.
// `password` decrypts an encrypted PEM key (empty: the key must not be
// encrypted).
std::expected<chain_info, credential_error> check_server_credentials(
    std::string_view chain_pem, std::string_view key_data, std::string_view password = {});

// The DER private key of a key file: DER as is, the first PEM block whose
// label ends in PRIVATE KEY, or an encrypted PEM key decrypted with
// `password`.
std::expected<std::vector<uint8_t>, std::string> private_key_der(std::string_view key_data,
                                                                 std::string_view password);

// `bundle_pem`: one or more CA certificates, each checked to be a CA.
// Returns their DER encodings, in order.
std::expected<std::vector<std::vector<uint8_t>>, std::string> check_ca_bundle(
    std::string_view bundle_pem);

}  // namespace tlsterm::tls
