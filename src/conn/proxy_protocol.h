// The PROXY protocol version 2 header (haproxy.org proxy-protocol.txt) that
// tells an upstream who the client is: addresses, and in TLVs what the TLS
// layer learned (ALPN, server name, version, cipher, client certificate).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace tlsterm::conn {

struct proxy_v2_info {
    const sockaddr* source = nullptr;       // the client
    const sockaddr* destination = nullptr;  // the listener address it reached
    std::string_view alpn;
    std::string_view server_name;  // PP2_TYPE_AUTHORITY
    std::string_view tls_version;  // "TLSv1.3"
    std::string_view cipher;
    bool cert_presented = false;  // PP2_CLIENT_CERT_SESS (and _CONN unless resumed)
    bool cert_verified = false;   // verify field 0 only when presented and verified
    // The session was resumed: its certificate was presented in the
    // handshake that issued the ticket, not on this connection.
    bool resumed = false;
    std::string_view common_name;  // PP2_SUBTYPE_SSL_CN
};

// The whole header: signature, PROXY command, TCP over IPv4/IPv6 (UNSPEC
// when the two addresses differ in family), TLVs.
std::vector<uint8_t> encode_proxy_v2(const proxy_v2_info& info);

}  // namespace tlsterm::conn
