#include <tlsterm/address.h>

#include <gtest/gtest.h>

namespace tlsterm {
namespace {

TEST(SocketAddress, ParsesIpv4) {
    auto a = socket_address::parse("127.0.0.1:8443");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->family(), AF_INET);
    EXPECT_EQ(a->port(), 8443);
    EXPECT_EQ(a->to_string(), "127.0.0.1:8443");
    EXPECT_EQ(a->size(), sizeof(sockaddr_in));
}

TEST(SocketAddress, ParsesBracketedIpv6) {
    auto a = socket_address::parse("[::1]:443");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->family(), AF_INET6);
    EXPECT_EQ(a->port(), 443);
    EXPECT_EQ(a->to_string(), "[::1]:443");
}

TEST(SocketAddress, CanonicalizesIpv6) {
    auto a = socket_address::parse("[2001:DB8:0:0::1]:1");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->to_string(), "[2001:db8::1]:1");
}

TEST(SocketAddress, AcceptsPortZero) {
    auto a = socket_address::parse("0.0.0.0:0");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->port(), 0);
}

TEST(SocketAddress, RejectsMalformed) {
    struct bad_case {
        const char* text;
        const char* error;
    };
    for (auto [text, error] : {
             bad_case{"127.0.0.1", "expected \"address:port\", got \"127.0.0.1\""},
             bad_case{"127.0.0.1:", "port must be a number from 0 to 65535, got \"\""},
             bad_case{"127.0.0.1:65536", "port must be a number from 0 to 65535, got \"65536\""},
             bad_case{"127.0.0.1:80x", "port must be a number from 0 to 65535, got \"80x\""},
             bad_case{"localhost:80", "not a numeric IPv4 address: \"localhost\""},
             bad_case{"::1:80", "IPv6 addresses need brackets: \"[::1]:80\""},
             bad_case{"[::1]80", "expected \"[IPv6]:port\", got \"[::1]80\""},
             bad_case{"[127.0.0.1]:80", "not a numeric IPv6 address: \"127.0.0.1\""},
         }) {
        auto a = socket_address::parse(text);
        ASSERT_FALSE(a) << text;
        EXPECT_EQ(a.error(), error) << text;
    }
}

TEST(SocketAddress, FromKernelAddress) {
    auto v6 = *socket_address::parse("[2001:db8::7]:4433");
    auto copy = socket_address::from(v6.data(), v6.size());
    EXPECT_EQ(copy, v6);
    EXPECT_EQ(copy.to_string(), "[2001:db8::7]:4433");
    auto v4 = *socket_address::parse("10.1.2.3:80");
    EXPECT_EQ(socket_address::from(v4.data(), v4.size()).to_string(), "10.1.2.3:80");
    sockaddr_storage none{};
    EXPECT_EQ(socket_address::from(reinterpret_cast<sockaddr*>(&none), sizeof(none)).to_string(),
              "(unspecified)");
}

TEST(SocketAddress, ComparesByValue) {
    EXPECT_EQ(*socket_address::parse("10.0.0.1:80"), *socket_address::parse("10.0.0.1:80"));
    EXPECT_FALSE(*socket_address::parse("10.0.0.1:80") == *socket_address::parse("10.0.0.1:81"));
    EXPECT_FALSE(*socket_address::parse("[::]:80") == *socket_address::parse("0.0.0.0:80"));
}

}  // namespace
}  // namespace tlsterm
