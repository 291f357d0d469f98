#include "crl/fetch.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <utility>

#include "common/unique_fd.h"

namespace tlsterm::crl {

namespace {

using clock_type = std::chrono::steady_clock;

struct url_parts {
    std::string host;
    std::string port = "80";
    std::string path = "/";
};

std::expected<url_parts, std::string> split_url(std::string_view url) {
    if (!url.starts_with("http://")) {
        return std::unexpected("not an http:// URL");
    }
    url.remove_prefix(7);
    url_parts p;
    auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) {
        p.path = std::string(url.substr(slash));
    }
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::unexpected("unterminated IPv6 address");
        }
        p.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (authority.starts_with(":")) {
            p.port = std::string(authority.substr(1));
        }
    } else {
        auto colon = authority.rfind(':');
        p.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            p.port = std::string(authority.substr(colon + 1));
        }
    }
    if (p.host.empty() || p.port.empty()) {
        return std::unexpected("no host in the URL");
    }
    return p;
}

int remaining_ms(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, clock_type::time_point deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) {
            return true;
        }
        if (n == 0 || errno != EINTR) {
            return false;
        }
    }
}

}  // namespace

std::expected<std::string, std::string> http_get(std::string_view url, uint32_t timeout_ms,
                                                 std::size_t max_bytes) {
    auto parts = split_url(url);
    if (!parts) {
        return std::unexpected(parts.error());
    }
    const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    const std::string where = parts->host + ":" + parts->port;
    const std::string timed_out = "timed out after " + std::to_string(timeout_ms) + " ms";

    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(parts->host.c_str(), parts->port.c_str(), &hints, &found); rc != 0) {
        return std::unexpected("resolve " + where + ": " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(found, &::freeaddrinfo);
    unique_fd sock;
    std::string connect_error = "no address";
    for (addrinfo* a = addrs.get(); a != nullptr && !sock.valid(); a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            connect_error = std::strerror(errno);
            continue;
        }
        unique_fd attempt(fd);
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            connect_error = std::strerror(errno);
            continue;
        }
        if (!wait_for(fd, POLLOUT, deadline)) {
            return std::unexpected("connect to " + where + ": " + timed_out);
        }
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            connect_error = std::strerror(err);
            continue;
        }
        sock = std::move(attempt);
    }
    if (!sock.valid()) {
        return std::unexpected("connect to " + where + ": " + connect_error);
    }

    std::string request = "GET " + parts->path + " HTTP/1.0\r\nHost: " + parts->host +
                          "\r\nUser-Agent: tlsterm\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        if (!wait_for(sock.get(), POLLOUT, deadline)) {
            return std::unexpected("send to " + where + ": " + timed_out);
        }
        ssize_t n = ::send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return std::unexpected("send to " + where + ": " + std::strerror(errno));
        }
        sent += n > 0 ? static_cast<std::size_t>(n) : 0;
    }

    const std::size_t header_limit = 64 * 1024;
    std::string response;
    char buf[64 * 1024];
    for (;;) {
        if (!wait_for(sock.get(), POLLIN, deadline)) {
            return std::unexpected("read from " + where + ": " + timed_out);
        }
        ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return std::unexpected("read from " + where + ": " + std::strerror(errno));
        }
        if (n == 0) {
            break;
        }
        response.append(buf, static_cast<std::size_t>(n));
        if (response.size() > max_bytes + header_limit) {
            return std::unexpected("response larger than " + std::to_string(max_bytes) + " bytes");
        }
    }

    auto end = response.find("\r\n\r\n");
    if (end == std::string::npos || end > header_limit) {
        return std::unexpected("malformed HTTP response from " + where);
    }
    std::string_view head(response.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view status = head.substr(0, line_end);
    if (!status.starts_with("HTTP/1.") || status.size() < 12) {
        return std::unexpected("malformed HTTP status line from " + where);
    }
    if (status.substr(9, 3) != "200") {
        return std::unexpected("HTTP " + std::string(status.substr(9)));
    }
    std::string body = response.substr(end + 4);
    // Headers that change how the body must be read.
    std::string_view headers = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    while (!headers.empty()) {
        auto eol = headers.find("\r\n");
        std::string_view h = headers.substr(0, eol);
        headers = eol == std::string_view::npos ? "" : headers.substr(eol + 2);
        auto colon = h.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string name(h.substr(0, colon));
        for (auto& ch : name) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        std::string_view value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
        if (name == "transfer-encoding") {
            return std::unexpected("unsupported Transfer-Encoding " + std::string(value));
        }
        if (name == "content-length" && std::to_string(body.size()) != value) {
            return std::unexpected("body of " + std::to_string(body.size()) +
                                   " bytes, Content-Length says " + std::string(value));
        }
    }
    if (body.size() > max_bytes) {
        return std::unexpected("response larger than " + std::to_string(max_bytes) + " bytes");
    }
    return body;
}

}  // namespace tlsterm::crl
