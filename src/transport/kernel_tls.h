// Whether this kernel can carry a TLS socket's records itself (kTLS: the
// "tls" upper layer protocol, CONFIG_TLS, module tls.ko): probed on a
// loopback connection, the way a listener with `ktls = "auto"` will decide
// at start. The record layer that uses it comes with the kTLS work; this is
// the probe and the key material it installs.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>

#include "tls/session.h"

namespace tlsterm::transport {

// The suites the kernel can take over (RFC 8446/5288/7905 AEADs).
enum class kernel_cipher : uint8_t { aes_128_gcm, aes_256_gcm, chacha20_poly1305 };

// One direction's state as the kernel wants it: key, IV (the 4-byte salt
// and 8-byte explicit part for GCM on TLS 1.2; the 12-byte IV otherwise)
// and the sequence number of the next record.
struct kernel_keys {
    kernel_cipher cipher = kernel_cipher::aes_128_gcm;
    bool tls13 = true;
    std::span<const uint8_t> key;
    std::span<const uint8_t> iv;  // 12 bytes
    uint64_t sequence = 0;
};

// The cipher of `s`'s records when the kernel can take them (TLS 1.2 or
// 1.3 with an AES-GCM or ChaCha20-Poly1305 suite); the error names what it
// cannot take. No key material is read.
std::expected<kernel_cipher, std::string> kernel_cipher_of(tls::session& s);

// A session's keys for one direction, copied out of wolfSSL once its
// handshake is done (and whatever it had to send or read is through it).
// The copy is wiped when it goes.
struct kernel_key_material {
    kernel_cipher cipher = kernel_cipher::aes_128_gcm;
    bool tls13 = true;
    std::array<uint8_t, 32> key{};
    std::size_t key_size = 0;
    std::array<uint8_t, 12> iv{};
    uint64_t sequence = 0;

    kernel_key_material() = default;
    kernel_key_material(const kernel_key_material&) = default;
    kernel_key_material& operator=(const kernel_key_material&) = default;
    ~kernel_key_material();

    kernel_keys view() const {
        return kernel_keys{cipher, tls13, std::span(key).first(key_size), iv, sequence};
    }
};

// The keys `s` writes with (`tx`) or reads with (!tx), from wolfSSL's
// ATOMIC_USER getters, and the sequence number of its next record that
// way. TLS 1.2 GCM: the 4-byte implicit salt, then the sequence number as
// the explicit part (what the kernel sends in each record). The error names
// a suite the kernel cannot take.
std::expected<kernel_key_material, std::string> kernel_keys_of(tls::session& s, bool tx);

// Attaches the "tls" ULP to the connected TCP socket `fd`; the error names
// what the kernel lacks.
std::expected<void, std::string> attach_tls_ulp(int fd);
// Installs `k` as the transmit (tx) or receive (!tx) state of `fd`, whose
// ULP is attached.
std::expected<void, std::string> install_keys(int fd, bool tx, const kernel_keys& k);

// The calls that give a socket's records to the kernel, as a connection
// makes them: these by default; a test puts recording ones in their place.
struct kernel_tls_calls {
    std::function<std::expected<void, std::string>(int fd)> attach = attach_tls_ulp;
    std::function<std::expected<void, std::string>(int fd, bool tx, const kernel_keys& k)> install =
        install_keys;
};

// The first step of giving `s`'s records to the kernel on `fd`: its suite
// is one the kernel takes, and the "tls" ULP is attached (without keys it
// passes bytes as they are). The error names what the kernel would not
// take; the socket is as it was.
std::expected<void, std::string> attach_for_session(const kernel_tls_calls& calls, int fd,
                                                    tls::session& s);

// Gives `s`'s records to the kernel on `fd` (its ULP attached, `s` at a
// record boundary with nothing in flight): the keys of both directions
// copied out, TX installed, then RX, the copies wiped. A failure says
// whether the socket changed: a suite the kernel cannot take or a refused
// TX leaves it as it was (the records can stay with wolfSSL); a refused RX
// after TX leaves no way back (`no_way_back`: the connection must close,
// and no close_notify wolfSSL would make is one any more).
struct kernel_install_failure {
    bool no_way_back = false;
    std::string why;
};
std::expected<void, kernel_install_failure> install_session_keys(const kernel_tls_calls& calls,
                                                                 int fd, tls::session& s);

// A loopback connection with the ULP attached and AES-128-GCM installed
// both ways: the kernel can carry records. The error says what is missing
// (no tls module: CONFIG_TLS; no cipher).
std::expected<void, std::string> probe_kernel_tls();

}  // namespace tlsterm::transport
