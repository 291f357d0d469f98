// Run inside the kTLS VM (tools/ktls-vm): the kernel's record layer on
// every suite and version tlsterm will hand it, with tlsterm's own key
// installation (transport/kernel_tls.h). For each: records the kernel
// sends are framed as the RFC says (raw bytes read on a socket without
// RX), and records it sends are decrypted by the kernel on the other side
// (RX). Prints one line per check; exits 0 when all pass.
#include <sys/socket.h>

#include <array>
#include <cstdio>
#include <string>

#include "transport/kernel_tls.h"
#include "vm/vm_check.h"

namespace {

using tlsterm::transport::kernel_cipher;
using tlsterm::transport::kernel_keys;
using tlsterm::vm::check;
using tlsterm::vm::loopback;
using tlsterm::vm::read_n;

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
        loopback p;
        if (!check(p.connected(), label + ": loopback connection")) {
            return;
        }
        auto ulp = tlsterm::transport::attach_tls_ulp(p.dialed);
        auto tx = ulp ? tlsterm::transport::install_keys(p.dialed, true, k) : ulp;
        check(bool(tx), label + ": ULP and TX installed" + (tx ? "" : " (" + tx.error() + ")"));
        if (!tx) {
            return;
        }
        ::send(p.dialed, message.data(), message.size(), 0);
        std::size_t overhead =
            16 + (tls13 ? 1 : (cipher == kernel_cipher::chacha20_poly1305 ? 0 : 8));
        std::string wire = read_n(p.accepted, 5 + message.size() + overhead);
        bool framed = wire.size() == 5 + message.size() + overhead && wire[0] == 23 &&
                      wire[1] == 3 && wire[2] == 3 &&
                      ((static_cast<uint8_t>(wire[3]) << 8) | static_cast<uint8_t>(wire[4])) ==
                          static_cast<int>(message.size() + overhead) &&
                      wire.find("carried by the kernel") == std::string::npos;
        check(framed, label + ": one encrypted application_data record on the wire");
    }
    {  // TX and RX: the other side's kernel decrypts it.
        loopback p;
        if (!check(p.connected(), label + ": loopback connection")) {
            return;
        }
        bool ok = tlsterm::transport::attach_tls_ulp(p.dialed) &&
                  tlsterm::transport::attach_tls_ulp(p.accepted) &&
                  tlsterm::transport::install_keys(p.dialed, true, k) &&
                  tlsterm::transport::install_keys(p.accepted, false, k);
        check(ok, label + ": RX installed on the other side");
        if (!ok) {
            return;
        }
        ::send(p.dialed, message.data(), message.size(), 0);
        check(read_n(p.accepted, message.size()) == message, label + ": decrypted by the kernel");
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
    std::printf("%d failed\n", tlsterm::vm::failures);
    return tlsterm::vm::failures == 0 ? 0 : 1;
}
