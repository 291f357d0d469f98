// PEM armor (RFC 7468): splits text into labelled DER blocks. Strict: a
// BEGIN without a matching END, bad base64 or an empty body is an error, so
// a truncated certificate or CRL file is reported, not half-loaded.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace tlsterm::pem {

struct block {
    std::string label;  // e.g. "CERTIFICATE", "X509 CRL", "EC PRIVATE KEY"
    std::vector<uint8_t> der;
};

// Appends the bytes of base64 text (whitespace ignored) to `out`; false on
// a character outside the alphabet or data after padding.
bool decode_base64(std::string_view text, std::vector<uint8_t>& out);

// True when `data` contains a PEM BEGIN line (DER files never do).
bool looks_like_pem(std::string_view data);

// Every block in `data`, in order. Text outside blocks is ignored, as
// openssl does (bundles often carry comments). Zero blocks is not an error
// here; callers decide.
std::expected<std::vector<block>, std::string> decode_all(std::string_view data);

}  // namespace tlsterm::pem
