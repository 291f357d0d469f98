// Numeric socket addresses ("127.0.0.1:8443", "[::1]:8443"). No name
// resolution happens here: a config names addresses, never host names, so
// loading a config never blocks on DNS.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace tlsterm {

class socket_address {
  public:
    socket_address() = default;

    // Parses "IPv4:port" or "[IPv6]:port". The error is a phrase suitable
    // after "key (file:line:col): ".
    static std::expected<socket_address, std::string> parse(std::string_view text);

    // From a kernel-filled address (accept, getsockname, getpeername);
    // an unknown family gives an empty address ("(unspecified)").
    static socket_address from(const sockaddr* sa, socklen_t size);

    int family() const { return _storage.ss_family; }
    uint16_t port() const;
    const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&_storage); }
    socklen_t size() const { return _size; }
    std::string to_string() const;  // canonical form, IPv6 in brackets
    std::string host() const;       // the address alone, IPv6 without brackets

    friend bool operator==(const socket_address& a, const socket_address& b);

  private:
    sockaddr_storage _storage{};
    socklen_t _size = 0;
};

}  // namespace tlsterm
