#include "transport/kernel_tls.h"

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "tls/wolfssl.h"

namespace tlsterm::transport {

namespace {

std::string errno_text(int e) {
    return std::strerror(e);
}

// Fills the kernel's crypto_info for `k` (one struct per cipher; the
// fields differ only in their sizes).
template <typename Info>
std::expected<void, std::string> install(int fd, bool tx, const kernel_keys& k, uint16_t cipher,
                                         std::size_t salt_size) {
    Info info{};
    info.info.version = k.tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
    info.info.cipher_type = cipher;
    if (k.key.size() != sizeof(info.key) || k.iv.size() != salt_size + sizeof(info.iv)) {
        return std::unexpected("key or IV of the wrong size for the cipher");
    }
    std::ranges::copy(k.key, info.key);
    std::ranges::copy(k.iv.first(salt_size), info.salt);
    std::ranges::copy(k.iv.subspan(salt_size), info.iv);
    uint64_t be = htobe64(k.sequence);
    std::memcpy(info.rec_seq, &be, sizeof(info.rec_seq));
    int rc = ::setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, &info, sizeof(info));
    int e = errno;
    ::explicit_bzero(&info, sizeof(info));  // the kernel keeps its own copy
    if (rc != 0) {
        return std::unexpected(std::string(tx ? "TLS_TX" : "TLS_RX") + ": " + errno_text(e));
    }
    return {};
}

}  // namespace

kernel_key_material::~kernel_key_material() {
    ::explicit_bzero(key.data(), key.size());
    ::explicit_bzero(iv.data(), iv.size());
}

std::expected<kernel_cipher, std::string> kernel_cipher_of(tls::session& s) {
    if (s.version() != "TLSv1.3" && s.version() != "TLSv1.2") {
        return std::unexpected("TLS version " + std::string(s.version()) +
                               " cannot go to the kernel");
    }
    WOLFSSL* ssl = s.raw();
    const int key_size = wolfSSL_GetKeySize(ssl);
    switch (wolfSSL_GetBulkCipher(ssl)) {
        case wolfssl_aes_gcm:
            if (key_size != 16 && key_size != 32) {
                return std::unexpected("AES-GCM with a " + std::to_string(key_size) + "-byte key");
            }
            return key_size == 16 ? kernel_cipher::aes_128_gcm : kernel_cipher::aes_256_gcm;
        case wolfssl_chacha:
            return kernel_cipher::chacha20_poly1305;
        default:
            return std::unexpected("suite " + std::string(s.cipher()) +
                                   " cannot go to the kernel (AES-GCM and ChaCha20-Poly1305 can)");
    }
}

std::expected<kernel_key_material, std::string> kernel_keys_of(tls::session& s, bool tx) {
    auto cipher = kernel_cipher_of(s);
    if (!cipher) {
        return std::unexpected(cipher.error());
    }
    WOLFSSL* ssl = s.raw();
    kernel_key_material m;
    m.cipher = *cipher;
    m.tls13 = s.tls13();
    const int key_size = wolfSSL_GetKeySize(ssl);
    // The server writes with the server keys, the client with the client's.
    const bool server = wolfSSL_GetSide(ssl) == WOLFSSL_SERVER_END;
    const bool client_keys = server != tx;
    const unsigned char* key =
        client_keys ? wolfSSL_GetClientWriteKey(ssl) : wolfSSL_GetServerWriteKey(ssl);
    const unsigned char* iv =
        client_keys ? wolfSSL_GetClientWriteIV(ssl) : wolfSSL_GetServerWriteIV(ssl);
    word64 sequence = 0;
    int got = tx ? wolfSSL_GetSequenceNumber(ssl, &sequence)
                 : wolfSSL_GetPeerSequenceNumber(ssl, &sequence);
    if (key == nullptr || iv == nullptr || got < 0 || key_size <= 0) {
        return std::unexpected("wolfSSL gave no key material (a session without its keys)");
    }
    m.key_size = static_cast<std::size_t>(key_size);
    std::copy_n(key, m.key_size, m.key.begin());
    m.sequence = sequence;
    const int iv_size = wolfSSL_GetIVSize(ssl);
    if (iv_size == 12) {
        std::copy_n(iv, 12, m.iv.begin());
    } else if (iv_size == 4 && !m.tls13 && m.cipher != kernel_cipher::chacha20_poly1305) {
        // TLS 1.2 GCM: the salt; the explicit nonce the kernel starts from
        // is the sequence number, advanced with it.
        std::copy_n(iv, 4, m.iv.begin());
        uint64_t be = htobe64(sequence);
        std::memcpy(m.iv.data() + 4, &be, 8);
    } else {
        return std::unexpected("an IV of " + std::to_string(iv_size) + " bytes");
    }
    return m;
}

std::expected<void, std::string> attach_tls_ulp(int fd) {
    static constexpr char ulp[] = "tls";
    if (::setsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, sizeof(ulp)) != 0) {
        int e = errno;
        if (e == ENOENT) {
            return std::unexpected(
                "the kernel has no \"tls\" upper layer protocol (CONFIG_TLS, "
                "module tls.ko): TCP_ULP: " +
                errno_text(e));
        }
        return std::unexpected("TCP_ULP \"tls\": " + errno_text(e));
    }
    return {};
}

std::expected<void, std::string> attach_for_session(const kernel_tls_calls& calls, int fd,
                                                    tls::session& s) {
    if (auto cipher = kernel_cipher_of(s); !cipher) {
        return std::unexpected(cipher.error());
    }
    return calls.attach(fd);
}

std::expected<void, kernel_install_failure> install_session_keys(const kernel_tls_calls& calls,
                                                                 int fd, tls::session& s) {
    auto tx = kernel_keys_of(s, true);
    auto rx = kernel_keys_of(s, false);
    if (!tx || !rx) {
        return std::unexpected(kernel_install_failure{false, !tx ? tx.error() : rx.error()});
    }
    if (auto installed = calls.install(fd, true, tx->view()); !installed) {
        // Nothing changed yet: the ULP without keys passes bytes as they are.
        return std::unexpected(kernel_install_failure{false, installed.error()});
    }
    if (auto installed = calls.install(fd, false, rx->view()); !installed) {
        // The kernel writes the records already.
        return std::unexpected(kernel_install_failure{true, installed.error()});
    }
    return {};
}

std::expected<void, std::string> install_keys(int fd, bool tx, const kernel_keys& k) {
    // TLS 1.2 GCM: a 4-byte salt from the key block, 8 explicit bytes
    // (the kernel sends the sequence number there). TLS 1.3 and
    // ChaCha20-Poly1305: the whole 12-byte IV.
    switch (k.cipher) {
        case kernel_cipher::aes_128_gcm:
            return install<tls12_crypto_info_aes_gcm_128>(fd, tx, k, TLS_CIPHER_AES_GCM_128,
                                                          TLS_CIPHER_AES_GCM_128_SALT_SIZE);
        case kernel_cipher::aes_256_gcm:
            return install<tls12_crypto_info_aes_gcm_256>(fd, tx, k, TLS_CIPHER_AES_GCM_256,
                                                          TLS_CIPHER_AES_GCM_256_SALT_SIZE);
        case kernel_cipher::chacha20_poly1305:
            return install<tls12_crypto_info_chacha20_poly1305>(fd, tx, k,
                                                                TLS_CIPHER_CHACHA20_POLY1305, 0);
    }
    return std::unexpected("unknown cipher");
}

std::expected<void, std::string> probe_kernel_tls() {
    unique_fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    unique_fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener.get() < 0 || client.get() < 0) {
        return std::unexpected("socket(): " + errno_text(errno));
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof(a);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &n) != 0 ||
        ::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        return std::unexpected("a loopback connection to probe on: " + errno_text(errno));
    }
    if (auto r = attach_tls_ulp(client.get()); !r) {
        return r;
    }
    const std::array<uint8_t, 16> key{};
    const std::array<uint8_t, 12> iv{};
    kernel_keys k{kernel_cipher::aes_128_gcm, true, key, iv, 0};
    for (bool tx : {true, false}) {
        if (auto r = install_keys(client.get(), tx, k); !r) {
            return std::unexpected("AES-128-GCM: " + r.error());
        }
    }
    return {};
}

}  // namespace tlsterm::transport
