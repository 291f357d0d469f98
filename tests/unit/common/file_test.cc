#include "common/file.h"

#include <gtest/gtest.h>

#include "support/pki.h"

namespace tlsterm {
namespace {

TEST(ReadFile, ReadsWholeFile) {
    auto dir = test::make_temp_dir("file");
    std::string data(300000, 'x');
    data[123456] = '\0';
    test::write_file(dir / "f", data);
    auto got = read_file(dir / "f");
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, data);
}

TEST(ReadFile, NamesMissingFile) {
    auto dir = test::make_temp_dir("file");
    auto got = read_file(dir / "ca.crl");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), "no such file: " + (dir / "ca.crl").string());
    test::write_file(dir / "plain", "x");
    got = read_file(dir / "plain" / "ca.crl");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), "a parent is not a directory: " + (dir / "plain" / "ca.crl").string());
}

TEST(ReadFile, RefusesDirectory) {
    auto dir = test::make_temp_dir("file");
    auto got = read_file(dir);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), "is a directory, not a file: " + dir.string());
}

TEST(ReadFile, RefusesOversizedFile) {
    auto dir = test::make_temp_dir("file");
    test::write_file(dir / "big", std::string(2048, 'a'));
    auto got = read_file(dir / "big", 1024);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), "file too large (2048 bytes, limit 1024): " + (dir / "big").string());
}

TEST(ReadFile, RefusesNonRegularFile) {
    auto got = read_file("/dev/null");
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), "not a regular file: /dev/null");
}

}  // namespace
}  // namespace tlsterm
