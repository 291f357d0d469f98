// TOML pieces for HTTP-mode integration tests: upstreams, an HTTP listener
// and the runtime table, written the way the tests' configs need them.
#pragma once

#include <cstdint>
#include <string>

namespace tlsterm::test {

inline std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

// An upstream table; `tls` holds the [upstreams.tls] keys, `pool` the
// [upstreams.pool] keys.
std::string upstream(const std::string& name, uint16_t port, const std::string& tls = "",
                     const std::string& pool = "");

// An HTTP listener "web" whose default route is `default_upstream`;
// `tls_extra` goes into [listeners.tls], `http` into [listeners.http],
// `routes` is its [[listeners.routes]] tables.
std::string listener(const std::string& default_upstream, const std::string& tls_extra = "",
                     const std::string& http = "", const std::string& routes = "");

// [runtime] with `shards` shards and debug logging.
std::string runtime(int shards = 1);

}  // namespace tlsterm::test
