// Handshake admission: which new client connections a shard takes on before
// any asymmetric crypto is spent on them, so that a flood from a few
// addresses (or aimed at one server name) cannot crowd out everyone else.
//
//   at accept:        connections per client address (IPv4 /32, IPv6 /64)
//                     and handshakes per second per address and in all;
//   after ClientHello: handshakes per second per server name (the parse is
//                     cheap; nothing is derived yet).
//
// One instance per shard, used only by its thread (no locks). The limits in
// limits_config are for the whole process; a shard enforces its share
// (divided by the shard count, at least 1), since SO_REUSEPORT spreads a
// client's connections over the shards. Rates are token buckets refilled
// continuously, holding one second's worth. Memory is bounded: at most
// `max_tracked` addresses and server names each; past that, new keys are
// held only to the global rate (an address with connections is never
// forgotten while they last).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <tlsterm/config.h>
#include <tlsterm/counters.h>

namespace tlsterm::conn {

// A client address reduced to what admission counts by.
struct address_key {
    uint64_t high = 0;  // IPv4: 0; IPv6: the /64 prefix
    uint64_t low = 0;   // IPv4: the address, tagged; IPv6: 0

    static address_key from(const sockaddr* sa);
    friend bool operator==(const address_key&, const address_key&) = default;
};

class admission {
  public:
    static constexpr std::size_t max_tracked = 65536;

    admission(const limits_config& limits, uint32_t shards);
    // A reload's limits; the counts and buckets so far carry over.
    void set_limits(const limits_config& limits, uint32_t shards);

    // A connection from `who` was accepted at `now_ms`: nullopt when it may
    // proceed (it is then counted until release()), else why not.
    std::optional<close_reason> admit(const address_key& who, uint64_t now_ms);
    // A connection admit() let in has ended.
    void release(const address_key& who);
    // A ClientHello naming `server_name` ("" for none).
    bool admit_server_name(std::string_view server_name, uint64_t now_ms);
    // Forgets idle keys whose buckets are full again (the shard's tick).
    void sweep(uint64_t now_ms);

    std::size_t tracked_addresses() const { return _addresses.size(); }

  private:
    struct bucket {
        double tokens = 0;
        uint64_t at_ms = 0;
        // Takes one token at `now_ms`; false when none is left.
        bool take(double rate, uint64_t now_ms);
        bool full(double rate, uint64_t now_ms) const;
    };
    struct per_address {
        uint32_t connections = 0;
        bucket handshakes;
    };
    struct key_hash {
        std::size_t operator()(const address_key& k) const {
            return std::hash<uint64_t>()(k.high * 0x9e3779b97f4a7c15ull ^ k.low);
        }
    };

    uint32_t _max_per_address = 0;  // connections, this shard's share; 0 = no limit
    double _address_rate = 0;       // handshakes/s per address, this shard's share; 0 = none
    double _rate = 0;               // handshakes/s in all, this shard's share; 0 = none
    double _server_name_rate = 0;   // handshakes/s per server name, this shard's share; 0 = none
    bucket _all;
    std::unordered_map<address_key, per_address, key_hash> _addresses;
    std::unordered_map<std::string, bucket> _server_names;
};

}  // namespace tlsterm::conn
