#include <tlsterm/address.h>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tlsterm {

std::expected<socket_address, std::string> socket_address::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    bool bracketed = false;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::unexpected("expected \"[IPv6]:port\", got \"" + std::string(text) + "\"");
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        bracketed = true;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return std::unexpected("expected \"address:port\", got \"" + std::string(text) + "\"");
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return std::unexpected("IPv6 addresses need brackets: \"[" + std::string(host) +
                                   "]:" + std::string(port_text) + "\"");
        }
    }

    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
        port > 65535) {
        return std::unexpected("port must be a number from 0 to 65535, got \"" +
                               std::string(port_text) + "\"");
    }

    socket_address out;
    std::string host_z(host);
    if (!bracketed) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&out._storage);
        if (inet_pton(AF_INET, host_z.c_str(), &sin->sin_addr) != 1) {
            return std::unexpected("not a numeric IPv4 address: \"" + host_z + "\"");
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(static_cast<uint16_t>(port));
        out._size = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out._storage);
        if (inet_pton(AF_INET6, host_z.c_str(), &sin6->sin6_addr) != 1) {
            return std::unexpected("not a numeric IPv6 address: \"" + host_z + "\"");
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(static_cast<uint16_t>(port));
        out._size = sizeof(sockaddr_in6);
    }
    return out;
}

socket_address socket_address::from(const sockaddr* sa, socklen_t size) {
    socket_address out;
    if ((sa->sa_family == AF_INET && size >= sizeof(sockaddr_in)) ||
        (sa->sa_family == AF_INET6 && size >= sizeof(sockaddr_in6))) {
        out._size = sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        std::memcpy(&out._storage, sa, out._size);
    }
    return out;
}

uint16_t socket_address::port() const {
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&_storage)->sin_port);
    }
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&_storage)->sin6_port);
    }
    return 0;
}

std::string socket_address::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&_storage)->sin_addr, buf,
                  sizeof(buf));
    } else if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&_storage)->sin6_addr, buf,
                  sizeof(buf));
    }
    return buf;
}

std::string socket_address::to_string() const {
    if (family() == AF_INET) {
        return host() + ":" + std::to_string(port());
    }
    if (family() == AF_INET6) {
        return "[" + host() + "]:" + std::to_string(port());
    }
    return "(unspecified)";
}

bool operator==(const socket_address& a, const socket_address& b) {
    return a._size == b._size && std::memcmp(&a._storage, &b._storage, a._size) == 0;
}

}  // namespace tlsterm
