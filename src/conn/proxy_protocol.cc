#include "conn/proxy_protocol.h"

#include <netinet/in.h>

#include <array>
#include <cstring>

namespace tlsterm::conn {

namespace {

constexpr std::array<uint8_t, 12> signature = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                               0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
constexpr uint8_t version_proxy = 0x21;  // version 2, PROXY command
constexpr uint8_t family_unspec = 0x00;
constexpr uint8_t family_tcp4 = 0x11;
constexpr uint8_t family_tcp6 = 0x21;

constexpr uint8_t type_alpn = 0x01;
constexpr uint8_t type_authority = 0x02;
constexpr uint8_t type_ssl = 0x20;
constexpr uint8_t subtype_ssl_version = 0x21;
constexpr uint8_t subtype_ssl_cn = 0x22;
constexpr uint8_t subtype_ssl_cipher = 0x23;

constexpr uint8_t client_ssl = 0x01;
constexpr uint8_t client_cert_conn = 0x02;
constexpr uint8_t client_cert_sess = 0x04;

void put16(std::vector<uint8_t>& out, std::size_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

void put_bytes(std::vector<uint8_t>& out, const void* p, std::size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}

void put_tlv(std::vector<uint8_t>& out, uint8_t type, std::string_view value) {
    // TLV values are at most 65535 bytes; longer ones are cut (never the
    // case for the names and labels written here).
    value = value.substr(0, 0xffff);
    out.push_back(type);
    put16(out, value.size());
    put_bytes(out, value.data(), value.size());
}

}  // namespace

std::vector<uint8_t> encode_proxy_v2(const proxy_v2_info& info) {
    std::vector<uint8_t> out(signature.begin(), signature.end());
    out.push_back(version_proxy);
    std::vector<uint8_t> body;
    uint8_t family = family_unspec;
    if (info.source != nullptr && info.destination != nullptr &&
        info.source->sa_family == info.destination->sa_family) {
        if (info.source->sa_family == AF_INET) {
            family = family_tcp4;
            const auto* s = reinterpret_cast<const sockaddr_in*>(info.source);
            const auto* d = reinterpret_cast<const sockaddr_in*>(info.destination);
            put_bytes(body, &s->sin_addr, 4);
            put_bytes(body, &d->sin_addr, 4);
            put_bytes(body, &s->sin_port, 2);  // both already in network order
            put_bytes(body, &d->sin_port, 2);
        } else if (info.source->sa_family == AF_INET6) {
            family = family_tcp6;
            const auto* s = reinterpret_cast<const sockaddr_in6*>(info.source);
            const auto* d = reinterpret_cast<const sockaddr_in6*>(info.destination);
            put_bytes(body, &s->sin6_addr, 16);
            put_bytes(body, &d->sin6_addr, 16);
            put_bytes(body, &s->sin6_port, 2);
            put_bytes(body, &d->sin6_port, 2);
        }
    }
    out.push_back(family);

    if (!info.alpn.empty()) {
        put_tlv(body, type_alpn, info.alpn);
    }
    if (!info.server_name.empty()) {
        put_tlv(body, type_authority, info.server_name);
    }
    std::vector<uint8_t> ssl;
    uint8_t client = client_ssl;
    if (info.cert_presented) {
        client |= info.resumed ? client_cert_sess : client_cert_conn | client_cert_sess;
    }
    ssl.push_back(client);
    uint32_t verify = info.cert_presented && info.cert_verified ? 0 : 1;
    for (int shift = 24; shift >= 0; shift -= 8) {
        ssl.push_back(static_cast<uint8_t>(verify >> shift));
    }
    put_tlv(ssl, subtype_ssl_version, info.tls_version);
    if (!info.cipher.empty()) {
        put_tlv(ssl, subtype_ssl_cipher, info.cipher);
    }
    if (!info.common_name.empty()) {
        put_tlv(ssl, subtype_ssl_cn, info.common_name);
    }
    put_tlv(body, type_ssl,
            std::string_view(reinterpret_cast<const char*>(ssl.data()), ssl.size()));

    put16(out, body.size());
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

}  // namespace tlsterm::conn
