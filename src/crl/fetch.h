// A deliberately small HTTP/1.0 client for CRL downloads: one GET over plain
// TCP, bounded in time and size, run by the CRL manager's thread (never by a
// shard). CRLs are signed, so HTTP is what RFC 5280 distribution points use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace tlsterm::crl {

// The body of a 200 response to GET `url` (http://host[:port]/path), within
// `timeout_ms` from connect to last byte and at most `max_bytes` long.
// Errors are one phrase: "connect to 127.0.0.1:8080: Connection refused",
// "HTTP 404 Not Found", "timed out after 10000 ms", ...
std::expected<std::string, std::string> http_get(std::string_view url, uint32_t timeout_ms,
                                                 std::size_t max_bytes);

}  // namespace tlsterm::crl
