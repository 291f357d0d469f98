#include "shard/listen.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlsterm::shard {

namespace {

constexpr int backlog = 4096;

int open_one(const socket_address& addr, std::string& error) {
    int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (addr.family() == AF_INET6) {
        // "[::]:443" means IPv6 only; IPv4 needs its own listener.
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (::bind(fd, addr.data(), addr.size()) != 0 || ::listen(fd, backlog) != 0) {
        error = std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

std::string listener_key(const listener_config& l) {
    return l.name + "@" + l.address.to_string();
}

std::expected<listener_sockets, config_error> open_listener(const listener_config& l,
                                                            unsigned shards) {
    listener_sockets out;
    out.key = listener_key(l);
    socket_address addr = l.address;
    for (unsigned s = 0; s < shards; ++s) {
        std::string error;
        int fd = open_one(addr, error);
        if (fd < 0) {
            close_listener(out);
            auto origin = l.origin;
            origin.key_path += ".address";
            return std::unexpected(config_error{
                origin,
                "listener " + l.name + ": cannot listen on " + addr.to_string() + ": " + error});
        }
        if (s == 0 && addr.port() == 0) {
            // The kernel chose the port; the other shards bind the same one.
            sockaddr_storage ss{};
            socklen_t len = sizeof(ss);
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
            addr = socket_address::from(reinterpret_cast<sockaddr*>(&ss), len);
        }
        out.fds.push_back(fd);
    }
    out.bound = addr;
    return out;
}

void close_listener(listener_sockets& s) {
    for (int fd : s.fds) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    s.fds.clear();
}

}  // namespace tlsterm::shard
