// Listening sockets, opened by the main thread before any shard starts so
// that "address in use" or "permission denied" stops startup with one line.
// Each shard gets its own SO_REUSEPORT socket per listener; a listener on
// port 0 gets the port the first socket was given, shared by all shards.
#pragma once

#include <expected>
#include <vector>

#include <tlsterm/address.h>
#include <tlsterm/config.h>

namespace tlsterm::shard {

struct listening_sockets {
    std::vector<std::vector<int>> fds;  // [shard][listener]
    std::vector<socket_address> bound;  // per listener, with the real port
};

std::expected<listening_sockets, config_error> open_listeners(const config& cfg, unsigned shards);

}  // namespace tlsterm::shard
