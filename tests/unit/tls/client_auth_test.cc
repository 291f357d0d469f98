#include "tls/client_auth.h"

#include <gtest/gtest.h>

namespace tlsterm::tls {
namespace {

TEST(GlobMatch, StarMatchesAnyRun) {
    EXPECT_TRUE(glob_match("spiffe://tlsterm.test/*", "spiffe://tlsterm.test/client/a"));
    EXPECT_TRUE(glob_match("*@tlsterm.test", "a@tlsterm.test"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
    EXPECT_TRUE(glob_match("exact", "exact"));
    EXPECT_FALSE(glob_match("exact", "exactly"));
    EXPECT_FALSE(glob_match("*@tlsterm.test", "a@tlsterm.test.evil"));
    EXPECT_FALSE(glob_match("a*b", "a"));
    EXPECT_FALSE(glob_match("", "x"));
}

}  // namespace
}  // namespace tlsterm::tls
