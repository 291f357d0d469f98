// JA4, FoxIO's TLS client fingerprint (technical_details/JA4.md of
// FoxIO-LLC/ja4), from what tlsterm's ClientHello reader took from a
// hello: "t", the version, "d" with SNI or "i" without, the counts of
// cipher suites and extensions, the first ALPN value's first and last
// characters, then 12 hex digits of the SHA-256 of the suites sorted, then
// 12 of the SHA-256 of the extensions sorted (SNI and ALPN left out) and
// the signature algorithms in the client's order. GREASE values (RFC 8701)
// count nowhere. For access logs, a header to the origin and PROXY v2.
#pragma once

#include <string>

#include "tls/client_hello.h"

namespace tlsterm::tls {

// "t13d1516h2_8daaf6152771_d8a2da3f94cd", say.
std::string ja4(const client_hello& hello);

}  // namespace tlsterm::tls
