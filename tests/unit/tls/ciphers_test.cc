#include "tls/ciphers.h"

#include <gtest/gtest.h>

#include "tls/wolfssl.h"

namespace tlsterm::tls {
namespace {

// Every suite tlsterm offers must be one the linked wolfSSL knows, by the
// name tlsterm will hand it.
TEST(Ciphers, EverySupportedSuiteIsKnownToWolfssl) {
    init_library();
    WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfTLS_server_method());
    ASSERT_NE(ctx, nullptr);
    for (const auto& s : supported_cipher_suites()) {
        std::string name(s.wolfssl_name);
        EXPECT_EQ(wolfSSL_CTX_set_cipher_list(ctx, name.c_str()), WOLFSSL_SUCCESS) << name;
    }
    wolfSSL_CTX_free(ctx);
}

TEST(Ciphers, FindsByVersion) {
    EXPECT_NE(find_cipher_suite("TLS_AES_128_GCM_SHA256", tls_version::tls1_3), nullptr);
    EXPECT_EQ(find_cipher_suite("TLS_AES_128_GCM_SHA256", tls_version::tls1_2), nullptr);
    EXPECT_NE(find_cipher_suite("ECDHE-RSA-AES256-GCM-SHA384", tls_version::tls1_2), nullptr);
    EXPECT_EQ(find_cipher_suite("AES128-SHA", tls_version::tls1_2), nullptr);
}

TEST(Ciphers, Tls12SuitesNameTheirCertificateKey) {
    for (const auto& s : supported_cipher_suites()) {
        if (s.version == tls_version::tls1_3) {
            EXPECT_TRUE(s.works_with(key_type::ecdsa) && s.works_with(key_type::rsa)) << s.name;
        } else {
            bool ecdsa = s.name.find("-ECDSA-") != std::string_view::npos;
            EXPECT_EQ(s.works_with(key_type::ecdsa), ecdsa) << s.name;
            EXPECT_EQ(s.works_with(key_type::rsa), !ecdsa) << s.name;
        }
    }
}

TEST(Ciphers, ParsesNames) {
    EXPECT_EQ(parse_group("X25519"), tls_group::x25519);
    EXPECT_EQ(parse_group("P-384"), tls_group::p384);
    EXPECT_FALSE(parse_group("secp256r1"));
    EXPECT_EQ(parse_signature_scheme("rsa_pss_rsae_sha256"), signature_scheme::rsa_pss_rsae_sha256);
    EXPECT_FALSE(parse_signature_scheme("ed25519"));
    EXPECT_EQ(parse_version("1.3"), tls_version::tls1_3);
    EXPECT_FALSE(parse_version("1.1"));
    for (auto g : {tls_group::x25519, tls_group::p256, tls_group::p384, tls_group::p521}) {
        EXPECT_EQ(parse_group(to_string(g)), g);
    }
}

}  // namespace
}  // namespace tlsterm::tls
