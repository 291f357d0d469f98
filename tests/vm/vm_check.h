// What the programs run in the kTLS VM share: one line per check and a
// count of failures, and a loopback TCP connection whose receives time out
// (a record the kernel refuses fails a check instead of hanging the guest).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace tlsterm::vm {

inline int failures = 0;

inline bool check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    failures += ok ? 0 : 1;
    return ok;
}

// Both ends of one loopback connection, closed with it.
struct loopback {
    int dialed = -1;    // the end that connected
    int accepted = -1;  // the end the listener accepted
    loopback(const loopback&) = delete;
    loopback& operator=(const loopback&) = delete;
    loopback() {
        int l = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t n = sizeof(a);
        bool ok = ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::listen(l, 1) == 0 && ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &n) == 0;
        dialed = ::socket(AF_INET, SOCK_STREAM, 0);
        ok = ok && ::connect(dialed, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        accepted = ok ? ::accept(l, nullptr, nullptr) : -1;
        ::close(l);
        timeval t{5, 0};
        for (int fd : {dialed, accepted}) {
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
        }
    }
    ~loopback() {
        ::close(dialed);
        ::close(accepted);
    }
    bool connected() const { return accepted >= 0; }
};

// Up to `n` bytes from `fd`: fewer when it ends, fails or times out.
inline std::string read_n(int fd, std::size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
        ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
        if (r <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
}

}  // namespace tlsterm::vm
