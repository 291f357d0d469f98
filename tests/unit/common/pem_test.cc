#include "common/pem.h"

#include <gtest/gtest.h>

namespace tlsterm::pem {
namespace {

// "hello" and "world!" in base64.
constexpr std::string_view two_blocks =
    "comment before\n"
    "-----BEGIN THING-----\naGVsbG8=\n-----END THING-----\n"
    "between\n"
    "-----BEGIN OTHER THING-----\nd29y\nbGQh\n-----END OTHER THING-----\n";

std::string as_string(const std::vector<uint8_t>& v) {
    return std::string(v.begin(), v.end());
}

TEST(Pem, DecodesBlocksInOrder) {
    auto blocks = decode_all(two_blocks);
    ASSERT_TRUE(blocks) << blocks.error();
    ASSERT_EQ(blocks->size(), 2u);
    EXPECT_EQ((*blocks)[0].label, "THING");
    EXPECT_EQ(as_string((*blocks)[0].der), "hello");
    EXPECT_EQ((*blocks)[1].label, "OTHER THING");
    EXPECT_EQ(as_string((*blocks)[1].der), "world!");
}

TEST(Pem, NoBlocksIsEmptyNotError) {
    auto blocks = decode_all("just text");
    ASSERT_TRUE(blocks);
    EXPECT_TRUE(blocks->empty());
    EXPECT_FALSE(looks_like_pem("just text"));
    EXPECT_TRUE(looks_like_pem(two_blocks));
}

TEST(Pem, RejectsTruncatedBlock) {
    auto blocks = decode_all("-----BEGIN X509 CRL-----\naGVsbG8=\n");
    ASSERT_FALSE(blocks);
    EXPECT_EQ(blocks.error(), "PEM block 1 (X509 CRL) has no END line (truncated file?)");
}

TEST(Pem, RejectsBlockEndingInsideNextBlock) {
    auto blocks =
        decode_all("-----BEGIN A-----\naGVsbG8=\n-----BEGIN B-----\naGVsbG8=\n-----END A-----\n");
    ASSERT_FALSE(blocks);
    EXPECT_EQ(blocks.error(), "PEM block 1 (A) has no END line (truncated file?)");
}

TEST(Pem, RejectsBadBase64) {
    auto blocks = decode_all("-----BEGIN A-----\naGV$bG8=\n-----END A-----\n");
    ASSERT_FALSE(blocks);
    EXPECT_EQ(blocks.error(), "PEM block 1 (A) has invalid base64");
    EXPECT_FALSE(decode_all("-----BEGIN A-----\naGVs=bG8\n-----END A-----\n"));
    EXPECT_FALSE(decode_all("-----BEGIN A-----\n\n-----END A-----\n"));
}

TEST(Pem, RejectsEncryptedHeaders) {
    auto blocks = decode_all(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        "DEK-Info: AES-128-CBC,00\n\naGVsbG8=\n-----END RSA PRIVATE KEY-----\n");
    ASSERT_FALSE(blocks);
    EXPECT_EQ(blocks.error(), "PEM block 1 (RSA PRIVATE KEY) is encrypted (Proc-Type headers)");
}

}  // namespace
}  // namespace tlsterm::pem
