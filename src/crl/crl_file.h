// Reading CRL files (RFC 5280 section 5): PEM ("X509 CRL" blocks, several
// per file allowed) or DER (one CRL). This is the structural layer: it
// checks the encoding and extracts what later stages index (issuer, update
// times, revoked entries). Signatures are checked against the issuing CA by
// the CRL set builder, which knows the CAs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsterm::crl {

struct crl_summary {
    std::vector<uint8_t> issuer_der;  // the issuer Name, DER
    // tbsCertList, DER: what the signature covers. A view into the bytes
    // given to inspect_crl_der (empty from inspect_crl_file, whose PEM
    // decoding is temporary): verify before those bytes go away.
    std::span<const uint8_t> tbs_der;
    std::vector<uint8_t> signature_algorithm;  // the OID's content octets
    std::vector<uint8_t> signature;            // signatureValue without the unused-bits octet
    std::time_t this_update = 0;
    std::optional<std::time_t> next_update;
    std::size_t revoked_count = 0;
    bool is_delta = false;                  // carries a deltaCRLIndicator extension
    std::vector<uint8_t> crl_number;        // cRLNumber contents; empty when absent
    std::vector<uint8_t> delta_base;        // deltaCRLIndicator: the base's cRLNumber
    std::vector<uint8_t> authority_key_id;  // keyIdentifier; empty when absent
};

// CRLReason values tlsterm acts on (RFC 5280 5.3.1).
inline constexpr int reason_unspecified = -1;  // no reasonCode extension
inline constexpr int reason_remove_from_crl = 8;

// The DER CRLs of a file: its PEM "X509 CRL" blocks (decoded here), or the
// file itself when it is DER. `ders` views `decoded` or the input.
struct crl_ders {
    std::vector<std::vector<uint8_t>> decoded;
    std::vector<std::span<const uint8_t>> ders;
    bool pem = false;
    std::string name(std::size_t i) const;  // "CRL 2" (PEM) or "DER CRL", for messages
};
std::expected<crl_ders, std::string> split_crl_file(std::string_view data);

// Parses every CRL in `data`. Errors are phrases naming the CRL's position
// in the file, e.g. "CRL 2: truncated revokedCertificates entry 10234".
std::expected<std::vector<crl_summary>, std::string> inspect_crl_file(std::string_view data);

// Called with each revoked entry's serial (DER INTEGER content) and its
// reasonCode (reason_unspecified when the entry has none).
using serial_visitor = std::function<void(std::span<const uint8_t> serial, int reason)>;

// Compares two cRLNumber values (DER INTEGER contents, non-negative).
int compare_crl_numbers(std::span<const uint8_t> a, std::span<const uint8_t> b);

// One DER-encoded CertificateList; `on_serial`, when given, sees every
// revoked serial in order.
std::expected<crl_summary, std::string> inspect_crl_der(std::span<const uint8_t> der,
                                                        const serial_visitor& on_serial = {});

}  // namespace tlsterm::crl
