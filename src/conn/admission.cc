#include "conn/admission.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace tlsterm::conn {

namespace {

// A process-wide limit as one shard's share: at least 1 (0 stays "none").
double share(uint32_t limit, uint32_t shards) {
    if (limit == 0) {
        return 0;
    }
    return std::max(1.0, static_cast<double>(limit) / std::max<uint32_t>(shards, 1));
}

// A bucket holds one second of its rate (at least one token).
double capacity(double rate) {
    return std::max(1.0, rate);
}

}  // namespace

address_key address_key::from(const sockaddr* sa) {
    address_key k;
    if (sa->sa_family == AF_INET) {
        uint32_t a = 0;
        std::memcpy(&a, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
        k.low = (1ull << 32) | a;
    } else if (sa->sa_family == AF_INET6) {
        const auto* six = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&six->sin6_addr)) {
            uint32_t a = 0;
            std::memcpy(&a, six->sin6_addr.s6_addr + 12, 4);
            k.low = (1ull << 32) | a;  // the same key as the IPv4 address
        } else {
            std::memcpy(&k.high, six->sin6_addr.s6_addr, 8);  // the /64
        }
    }
    return k;
}

bool admission::bucket::take(double rate, uint64_t now_ms) {
    double cap = capacity(rate);
    if (now_ms > at_ms) {
        tokens = std::min(cap, tokens + static_cast<double>(now_ms - at_ms) * rate / 1000.0);
        at_ms = now_ms;
    }
    if (tokens < 1.0) {
        return false;
    }
    tokens -= 1.0;
    return true;
}

bool admission::bucket::full(double rate, uint64_t now_ms) const {
    double refilled =
        tokens + static_cast<double>(now_ms - std::min(now_ms, at_ms)) * rate / 1000.0;
    return refilled >= capacity(rate);
}

admission::admission(const limits_config& limits, uint32_t shards) {
    set_limits(limits, shards);
    _all.tokens = capacity(_rate);
}

void admission::set_limits(const limits_config& limits, uint32_t shards) {
    _max_per_address =
        limits.max_connections_per_address == 0
            ? 0
            : static_cast<uint32_t>(share(limits.max_connections_per_address, shards));
    _address_rate = share(limits.handshake_rate_per_address, shards);
    _rate = share(limits.handshake_rate, shards);
    _server_name_rate = share(limits.handshake_rate_per_server_name, shards);
}

std::optional<close_reason> admission::admit(const address_key& who, uint64_t now_ms) {
    per_address* entry = nullptr;
    if (_max_per_address != 0 || _address_rate != 0) {
        auto it = _addresses.find(who);
        if (it == _addresses.end() && _addresses.size() < max_tracked) {
            per_address fresh;
            fresh.handshakes.tokens = capacity(_address_rate);
            fresh.handshakes.at_ms = now_ms;
            it = _addresses.emplace(who, fresh).first;
        }
        entry = it != _addresses.end() ? &it->second : nullptr;
    }
    if (entry != nullptr) {
        if (_max_per_address != 0 && entry->connections >= _max_per_address) {
            return close_reason::address_limit;
        }
        if (_address_rate != 0 && !entry->handshakes.take(_address_rate, now_ms)) {
            return close_reason::handshake_rate;
        }
    }
    if (_rate != 0 && !_all.take(_rate, now_ms)) {
        return close_reason::handshake_rate;
    }
    if (entry != nullptr) {
        ++entry->connections;
    }
    return std::nullopt;
}

void admission::release(const address_key& who) {
    auto it = _addresses.find(who);
    if (it != _addresses.end() && it->second.connections > 0) {
        --it->second.connections;
    }
}

bool admission::admit_server_name(std::string_view name, uint64_t now_ms) {
    if (_server_name_rate == 0) {
        return true;
    }
    auto it = _server_names.find(std::string(name));
    if (it == _server_names.end()) {
        if (_server_names.size() >= max_tracked) {
            return true;  // only the global rate holds for names beyond the bound
        }
        bucket fresh;
        fresh.tokens = capacity(_server_name_rate);
        fresh.at_ms = now_ms;
        it = _server_names.emplace(std::string(name), fresh).first;
    }
    return it->second.take(_server_name_rate, now_ms);
}

void admission::sweep(uint64_t now_ms) {
    std::erase_if(_addresses, [&](const auto& e) {
        return e.second.connections == 0 && e.second.handshakes.full(_address_rate, now_ms);
    });
    std::erase_if(_server_names,
                  [&](const auto& e) { return e.second.full(_server_name_rate, now_ms); });
}

}  // namespace tlsterm::conn
