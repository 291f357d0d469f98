#include "tls/credentials.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "support/pki.h"
#include "support/process.h"

namespace tlsterm::tls {
namespace {

std::string pki_text(const std::string& name) {
    return test::read_text(test::pki(name));
}

bool has_name(const chain_info& info, std::string_view name) {
    return std::ranges::find(info.dns_names, name) != info.dns_names.end();
}

TEST(ServerCredentials, AcceptsEcdsaChain) {
    auto info =
        check_server_credentials(pki_text("server-ecdsa.chain.pem"), pki_text("server-ecdsa.key"));
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->type, key_type::ecdsa);
    EXPECT_EQ(info->length, 2u);
    EXPECT_TRUE(has_name(*info, "localhost"));
    EXPECT_TRUE(has_name(*info, "tlsterm.test"));
    EXPECT_TRUE(has_name(*info, "*.wild.tlsterm.test"));
    // IP SANs are not server names for SNI.
    EXPECT_FALSE(has_name(*info, "127.0.0.1"));
    EXPECT_EQ(info->dns_names.size(), 5u);
}

TEST(ServerCredentials, AcceptsRsaChain) {
    auto info =
        check_server_credentials(pki_text("server-rsa.chain.pem"), pki_text("server-rsa.key"));
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->type, key_type::rsa);
}

TEST(ServerCredentials, AcceptsDerKeyAndCombinedPem) {
    auto dir = test::make_temp_dir("creds");
    auto r = test::run_process({"openssl", "pkey", "-in", test::pki("server-ecdsa.key").string(),
                                "-outform", "DER", "-out", (dir / "key.der").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto info = check_server_credentials(pki_text("server-ecdsa.chain.pem"),
                                         test::read_text(dir / "key.der"));
    ASSERT_TRUE(info) << info.error().message;
    // HAProxy-style: chain and key in one file.
    std::string combined = pki_text("server-ecdsa.chain.pem") + pki_text("server-ecdsa.key");
    info = check_server_credentials(combined, combined);
    ASSERT_TRUE(info) << info.error().message;
}

TEST(ServerCredentials, RejectsMismatchedKey) {
    auto info =
        check_server_credentials(pki_text("server-ecdsa.chain.pem"), pki_text("server-other.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message,
              "private key does not match the certificate (/O=tlsterm test/CN=tlsterm.test)");
    EXPECT_TRUE(info.error().in_key);
    info = check_server_credentials(pki_text("server-ecdsa.chain.pem"), pki_text("server-rsa.key"));
    ASSERT_FALSE(info);
    EXPECT_NE(info.error().message.find("private key does not match"), std::string::npos)
        << info.error().message;
    EXPECT_TRUE(info.error().in_key);
}

TEST(ServerCredentials, RejectsChainOutOfOrder) {
    std::string reversed = pki_text("intermediate-ca.pem") + pki_text("server-ecdsa.pem");
    auto info = check_server_credentials(reversed, pki_text("server-ecdsa.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message,
              "certificate chain out of order: certificate 2 (/O=tlsterm test/CN=tlsterm.test) "
              "did not issue certificate 1 (/O=tlsterm test/CN=tlsterm Test Intermediate CA)");
    EXPECT_FALSE(info.error().in_key);
}

TEST(ServerCredentials, RejectsNonCertificates) {
    auto info = check_server_credentials("not pem", pki_text("server-ecdsa.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message, "certificate chain is not PEM (no BEGIN CERTIFICATE line)");
    info = check_server_credentials(pki_text("root-ca.crl.pem"), pki_text("server-ecdsa.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message,
              "certificate chain: PEM block 1 is \"X509 CRL\", expected CERTIFICATE");
    info = check_server_credentials(
        "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        pki_text("server-ecdsa.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message,
              "certificate chain: certificate 1 is not a valid X.509 certificate");
}

TEST(ServerCredentials, RejectsBadAndEncryptedKeys) {
    auto info = check_server_credentials(pki_text("server-ecdsa.chain.pem"), "garbage");
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message, "not a valid private key (PEM or DER; RSA, EC or PKCS#8)");

    info = check_server_credentials(pki_text("server-ecdsa.chain.pem"),
                                    pki_text("server-ecdsa.chain.pem"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message, "no PRIVATE KEY block in the key file");
    EXPECT_TRUE(info.error().in_key);

    auto dir = test::make_temp_dir("creds");
    auto r = test::run_process({"openssl", "pkey", "-in", test::pki("server-ecdsa.key").string(),
                                "-aes256", "-passout", "pass:secret", "-out",
                                (dir / "enc.key").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    info = check_server_credentials(pki_text("server-ecdsa.chain.pem"),
                                    test::read_text(dir / "enc.key"));
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message, "private key is encrypted and no password was given");
    info = check_server_credentials(pki_text("server-ecdsa.chain.pem"),
                                    test::read_text(dir / "enc.key"), "wrong");
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().message,
              "cannot decrypt the private key (wrong password or unsupported encryption)");
    info = check_server_credentials(pki_text("server-ecdsa.chain.pem"),
                                    test::read_text(dir / "enc.key"), "secret");
    EXPECT_TRUE(info) << info.error().message;
}

TEST(CaBundle, CountsCaCertificates) {
    auto n = check_ca_bundle(pki_text("ca-bundle.pem"));
    ASSERT_TRUE(n) << n.error();
    EXPECT_EQ(n->size(), 2u);
}

TEST(CaBundle, RejectsLeafCertificate) {
    auto n = check_ca_bundle(pki_text("root-ca.pem") + pki_text("client-valid.pem"));
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(),
              "certificate 2 (/O=tlsterm test/CN=client-valid) is not a CA (basicConstraints "
              "CA:TRUE missing)");
}

TEST(CaBundle, RejectsEmptyBundle) {
    auto n = check_ca_bundle("# no certificates\n");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(), "CA bundle is not PEM (no BEGIN CERTIFICATE line)");
}

}  // namespace
}  // namespace tlsterm::tls
