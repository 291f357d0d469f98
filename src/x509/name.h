// Names of X.509 certificates as people read them: "/C=../O=../CN=.." and
// the commonName, from a DER Name.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace tlsterm::x509 {

// "/C=../O=../CN=.." from a DER Name (common attributes; others as "?").
std::string name_to_string(std::span<const uint8_t> name_der);

// The last commonName attribute of a DER Name; empty when it has none.
std::string common_name(std::span<const uint8_t> name_der);

}  // namespace tlsterm::x509
