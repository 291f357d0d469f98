#include "conn/admission.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace tlsterm::conn {
namespace {

address_key v4(const char* text) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, text, &a.sin_addr);
    return address_key::from(reinterpret_cast<const sockaddr*>(&a));
}

address_key v6(const char* text) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, text, &a.sin6_addr);
    return address_key::from(reinterpret_cast<const sockaddr*>(&a));
}

TEST(AdmissionKey, Ipv4By32AndIpv6By64) {
    EXPECT_EQ(v4("192.0.2.1"), v4("192.0.2.1"));
    EXPECT_FALSE(v4("192.0.2.1") == v4("192.0.2.2"));
    EXPECT_EQ(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff::9"));  // one /64
    EXPECT_FALSE(v6("2001:db8:1:2::1") == v6("2001:db8:1:3::1"));
    EXPECT_EQ(v6("::ffff:192.0.2.1"), v4("192.0.2.1"));  // v4-mapped is the IPv4 address
}

TEST(Admission, ConnectionsPerAddressAreShared) {
    limits_config l;
    l.max_connections_per_address = 4;
    l.handshake_rate_per_address = 0;
    admission a(l, 2);  // two shards: 2 each
    auto one = v4("192.0.2.1");
    EXPECT_EQ(a.admit(one, 0), std::nullopt);
    EXPECT_EQ(a.admit(one, 0), std::nullopt);
    EXPECT_EQ(a.admit(one, 0), close_reason::address_limit);
    EXPECT_EQ(a.admit(v4("192.0.2.2"), 0), std::nullopt);  // another address is fine
    a.release(one);
    EXPECT_EQ(a.admit(one, 0), std::nullopt);
}

TEST(Admission, RatesRefillOverTime) {
    limits_config l;
    l.max_connections_per_address = 0;
    l.handshake_rate_per_address = 10;
    admission a(l, 1);
    auto one = v4("192.0.2.1");
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(a.admit(one, 1000), std::nullopt) << i;  // a second's worth at once
    }
    EXPECT_EQ(a.admit(one, 1000), close_reason::handshake_rate);
    EXPECT_EQ(a.admit(one, 1100), std::nullopt);  // 100 ms later: one more
    EXPECT_EQ(a.admit(one, 1100), close_reason::handshake_rate);
    EXPECT_EQ(a.admit(v4("192.0.2.2"), 1100), std::nullopt);

    limits_config g;
    g.max_connections_per_address = 0;
    g.handshake_rate_per_address = 0;
    g.handshake_rate = 3;
    admission all(g, 1);
    EXPECT_EQ(all.admit(v4("192.0.2.1"), 0), std::nullopt);
    EXPECT_EQ(all.admit(v4("192.0.2.2"), 0), std::nullopt);
    EXPECT_EQ(all.admit(v4("192.0.2.3"), 0), std::nullopt);
    EXPECT_EQ(all.admit(v4("192.0.2.4"), 0), close_reason::handshake_rate);
}

TEST(Admission, ServerNamesAndSweeping) {
    limits_config l;
    l.handshake_rate_per_server_name = 2;
    admission a(l, 1);
    EXPECT_TRUE(a.admit_server_name("a.test", 0));
    EXPECT_TRUE(a.admit_server_name("a.test", 0));
    EXPECT_FALSE(a.admit_server_name("a.test", 0));
    EXPECT_TRUE(a.admit_server_name("b.test", 0));
    EXPECT_TRUE(a.admit_server_name("a.test", 600));

    auto one = v4("192.0.2.1");
    ASSERT_EQ(a.admit(one, 0), std::nullopt);
    a.sweep(10'000);
    EXPECT_EQ(a.tracked_addresses(), 1u);  // it still has a connection
    a.release(one);
    a.sweep(10'000);
    EXPECT_EQ(a.tracked_addresses(), 0u);
}

}  // namespace
}  // namespace tlsterm::conn
