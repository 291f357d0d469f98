// Checks of a TLS 1.3 key share (RFC 8446 section 4.2.8) made before the
// handshake computes anything with it: tlsterm's ClientHello reader refuses
// an invalid share of a group it serves with illegal_parameter, where
// wolfSSL 5.5.4 used some of them (an off-curve point, a coordinate >= p)
// or failed later without an alert (the point at infinity, a compressed or
// truncated point, an X25519 low-order point).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace tlsterm::tls {

// Why the key_exchange of `group` (IANA id) is not a valid public value, or
// "" when it is or the group is not one tlsterm checks. P-256/384/521: an
// uncompressed point (0x04 || X || Y) of the curve's size, both coordinates
// below p, on the curve (cofactor 1, so on the curve is in the group).
// X25519: 32 bytes that are not one of the low-order points (whose shared
// secret is all zero).
std::string invalid_key_share(uint16_t group, std::span<const uint8_t> key_exchange);

}  // namespace tlsterm::tls
