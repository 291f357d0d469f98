#include "common/watch.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/pki.h"

namespace tlsterm {
namespace {

namespace fs = std::filesystem;

void put(const fs::path& p, const std::string& text) {
    std::ofstream(p.string() + ".new", std::ios::binary) << text;
    fs::rename(p.string() + ".new", p);  // a new inode, as a deploy writes it
}

TEST(FileWatch, OnlyChangedBytesAreAChange) {
    auto dir = test::make_temp_dir("watch");
    fs::path f = dir / "cert.pem";
    put(f, "one");
    file_watch w(f);
    EXPECT_FALSE(w.changed());
    put(f, "one");  // rewritten, same bytes: stat moved, content did not
    EXPECT_FALSE(w.changed());
    put(f, "two");
    EXPECT_TRUE(w.changed());
    EXPECT_FALSE(w.changed()) << "recorded: the same change is seen once";
    fs::remove(f);
    EXPECT_TRUE(w.changed()) << "a file that disappears is a change";
    EXPECT_FALSE(w.changed());
    put(f, "two");
    EXPECT_TRUE(w.changed()) << "and one that comes back";
}

TEST(FileWatch, ContentHashIsFnv1a) {
    EXPECT_EQ(content_hash(""), 0xcbf29ce484222325ull);
    EXPECT_EQ(content_hash("a"), 0xaf63dc4c8601ec8cull);
    EXPECT_NE(content_hash("ab"), content_hash("ba"));
}

}  // namespace
}  // namespace tlsterm
