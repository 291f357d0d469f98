// Listening sockets, opened by the main thread (at startup, before any shard
// starts, so that "address in use" or "permission denied" stops startup with
// one line; at a reload, for the listeners it adds). Each shard gets its own
// SO_REUSEPORT socket per listener; a listener on port 0 gets the port the
// first socket was given, shared by all shards.
//
// The main thread owns these descriptors for as long as the listener exists
// (a binary upgrade hands them on from here); each shard accepts on a dup of
// its own and closes that dup when it stops accepting.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <tlsterm/address.h>
#include <tlsterm/config.h>

namespace tlsterm::shard {

// What identifies a listener's sockets across reloads and upgrades: its
// name and configured address. A listener whose address changes is a new
// listener (new sockets), the old one stops accepting.
std::string listener_key(const listener_config& l);

struct listener_sockets {
    std::string key;
    socket_address bound;  // with the real port
    std::vector<int> fds;  // [shard]
};

std::expected<listener_sockets, config_error> open_listener(const listener_config& l,
                                                            unsigned shards);
void close_listener(listener_sockets& s);

}  // namespace tlsterm::shard
