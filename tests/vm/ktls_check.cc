// Run inside the kTLS VM (tools/ktls-vm): the kernel's record layer on
// every suite and version tlsterm will hand it, with tlsterm's own key
// installation (transport/kernel_tls.h). For each: records the kernel
// sends are framed as the RFC says (raw bytes read on a socket without
// RX), and records it sends are decrypted by the kernel on the other side
// (RX). Prints one line per check; exits 0 when all pass.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include "transport/kernel_tls.h"

namespace {

using tlsterm::transport::kernel_cipher;
using tlsterm::transport::kernel_keys;

struct pair {
    int client = -1;
    int server = -1;
    ~pair() {
        ::close(client);
        ::close(server);
    }
};

bool connect_pair(pair& p) {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof(a);
    bool ok = ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && ::listen(l, 1) == 0 &&
              ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &n) == 0;
    p.client = ::socket(AF_INET, SOCK_STREAM, 0);
    ok = ok && ::connect(p.client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    p.server = ok ? ::accept(l, nullptr, nullptr) : -1;
    ::close(l);
    // A record the kernel refuses must fail the check, not hang it.
    timeval t{5, 0};
    for (int fd : {p.client, p.server}) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
    }
    return p.server >= 0;
}

std::string read_n(int fd, std::size_t n) {
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

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    failures += ok ? 0 : 1;
}

void one(kernel_cipher cipher, const char* name, std::size_t key_size, bool tls13) {
    std::array<uint8_t, 32> key_bytes{};
    for (std::size_t i = 0; i < key_bytes.size(); ++i) {
        key_bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    }
    std::array<uint8_t, 12> iv{};
    for (std::size_t i = 0; i < iv.size(); ++i) {
        iv[i] = static_cast<uint8_t>(0xa0 + i);
    }
    kernel_keys k{cipher, tls13, std::span(key_bytes).first(key_size), iv, 5};
    const std::string label = std::string(name) + (tls13 ? " TLS 1.3" : " TLS 1.2");
    const std::string message = "carried by the kernel: " + label;

    {  // TX only: the bytes on the wire are one application_data record.
        pair p;
        if (!connect_pair(p)) {
            check(false, label + ": loopback connection");
            return;
        }
        auto ulp = tlsterm::transport::attach_tls_ulp(p.client);
        auto tx = ulp ? tlsterm::transport::install_keys(p.client, true, k) : ulp;
        check(bool(tx), label + ": ULP and TX installed" + (tx ? "" : " (" + tx.error() + ")"));
        if (!tx) {
            return;
        }
        ::send(p.client, message.data(), message.size(), 0);
        std::size_t overhead =
            16 + (tls13 ? 1 : (cipher == kernel_cipher::chacha20_poly1305 ? 0 : 8));
        std::string wire = read_n(p.server, 5 + message.size() + overhead);
        bool framed = wire.size() == 5 + message.size() + overhead && wire[0] == 23 &&
                      wire[1] == 3 && wire[2] == 3 &&
                      ((static_cast<uint8_t>(wire[3]) << 8) | static_cast<uint8_t>(wire[4])) ==
                          static_cast<int>(message.size() + overhead) &&
                      wire.find("carried by the kernel") == std::string::npos;
        check(framed, label + ": one encrypted application_data record on the wire");
    }
    {  // TX and RX: the other side's kernel decrypts it.
        pair p;
        if (!connect_pair(p)) {
            check(false, label + ": loopback connection");
            return;
        }
        bool ok = tlsterm::transport::attach_tls_ulp(p.client) &&
                  tlsterm::transport::attach_tls_ulp(p.server) &&
                  tlsterm::transport::install_keys(p.client, true, k) &&
                  tlsterm::transport::install_keys(p.server, false, k);
        check(ok, label + ": RX installed on the other side");
        if (!ok) {
            return;
        }
        ::send(p.client, message.data(), message.size(), 0);
        check(read_n(p.server, message.size()) == message, label + ": decrypted by the kernel");
    }
}

}  // namespace

int main() {
    auto probe = tlsterm::transport::probe_kernel_tls();
    check(bool(probe), std::string("probe_kernel_tls") + (probe ? "" : ": " + probe.error()));
    if (!probe) {
        return 1;
    }
    for (bool tls13 : {true, false}) {
        one(kernel_cipher::aes_128_gcm, "AES-128-GCM", 16, tls13);
        one(kernel_cipher::aes_256_gcm, "AES-256-GCM", 32, tls13);
        one(kernel_cipher::chacha20_poly1305, "ChaCha20-Poly1305", 32, tls13);
    }
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
