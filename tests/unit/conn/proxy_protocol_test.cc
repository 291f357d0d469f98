#include "conn/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

namespace tlsterm::conn {
namespace {

sockaddr_in v4(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

TEST(ProxyV2, HeaderLayout) {
    auto src = v4("192.0.2.1", 40000);
    auto dst = v4("198.51.100.2", 443);
    proxy_v2_info info;
    info.source = reinterpret_cast<const sockaddr*>(&src);
    info.destination = reinterpret_cast<const sockaddr*>(&dst);
    info.tls_version = "TLSv1.3";
    info.cert_presented = true;
    info.cert_verified = true;
    info.common_name = "cn";
    auto h = encode_proxy_v2(info);
    const std::vector<uint8_t> expected = {
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,  // signature
        0x21, 0x11,                                                              // v2 PROXY, TCP4
        0x00, 0x23,                                                              // 35 bytes follow
        192,  0,    2,    1,    198,  51,   100,  2,    0x9c, 0x40, 0x01, 0xbb,  // addresses, ports
        0x20, 0x00, 0x14,                                                        // PP2_TYPE_SSL, 20
        0x07, 0x00, 0x00, 0x00, 0x00,                               // client bits, verify 0
        0x21, 0x00, 0x07, 'T',  'L',  'S',  'v',  '1',  '.',  '3',  // version
        0x22, 0x00, 0x02, 'c',  'n'};                               // CN
    EXPECT_EQ(h, expected);
}

TEST(ProxyV2, MixedFamiliesAreUnspec) {
    auto src = v4("192.0.2.1", 1);
    sockaddr_in6 dst{};
    dst.sin6_family = AF_INET6;
    proxy_v2_info info;
    info.source = reinterpret_cast<const sockaddr*>(&src);
    info.destination = reinterpret_cast<const sockaddr*>(&dst);
    auto h = encode_proxy_v2(info);
    ASSERT_GT(h.size(), 16u);
    EXPECT_EQ(h[13], 0x00);
    // No addresses: the SSL TLV comes first; not presented -> verify 1.
    EXPECT_EQ(h[16], 0x20);
    EXPECT_EQ(h[19], 0x01);
    EXPECT_EQ(h[23], 0x01);
}

}  // namespace
}  // namespace tlsterm::conn
