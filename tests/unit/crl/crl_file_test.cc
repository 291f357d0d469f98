#include "crl/crl_file.h"

#include <gtest/gtest.h>

#include "support/pki.h"

namespace tlsterm::crl {
namespace {

std::vector<crl_summary> inspect(const std::string& name) {
    auto r = inspect_crl_file(test::read_text(test::pki(name)));
    EXPECT_TRUE(r) << name << ": " << r.error();
    return r ? *r : std::vector<crl_summary>{};
}

TEST(CrlFile, ReadsPemAndDerAlike) {
    auto pem = inspect("root-ca.crl.pem");
    auto der = inspect("root-ca.crl.der");
    ASSERT_EQ(pem.size(), 1u);
    ASSERT_EQ(der.size(), 1u);
    // root-ca.crl revokes client-revoked and revoked-intermediate-ca.
    EXPECT_EQ(pem[0].revoked_count, 2u);
    EXPECT_EQ(der[0].revoked_count, 2u);
    EXPECT_EQ(pem[0].issuer_der, der[0].issuer_der);
    EXPECT_FALSE(pem[0].is_delta);
    ASSERT_TRUE(pem[0].next_update);
    EXPECT_EQ(*pem[0].next_update - pem[0].this_update, 30 * 86400);
}

TEST(CrlFile, EmptyCrlHasNoEntries) {
    auto crls = inspect("root-ca-empty.crl.der");
    ASSERT_EQ(crls.size(), 1u);
    EXPECT_EQ(crls[0].revoked_count, 0u);
}

TEST(CrlFile, IssuerDiffersPerCa) {
    auto root = inspect("root-ca.crl.pem");
    auto inter = inspect("intermediate-ca.crl.pem");
    ASSERT_EQ(root.size(), 1u);
    ASSERT_EQ(inter.size(), 1u);
    EXPECT_NE(root[0].issuer_der, inter[0].issuer_der);
    EXPECT_EQ(inter[0].revoked_count, 2u);  // client-intermediate-revoked, server-revoked
}

TEST(CrlFile, RecognizesDeltaCrl) {
    auto delta = inspect("root-ca-delta.crl.pem");
    ASSERT_EQ(delta.size(), 1u);
    EXPECT_TRUE(delta[0].is_delta);
    EXPECT_EQ(delta[0].revoked_count, 3u);
}

TEST(CrlFile, CountsLargeCrl) {
    auto large = inspect("large.crl.der");
    ASSERT_EQ(large.size(), 1u);
    // The bulk entries plus the root's own three revocations.
    EXPECT_EQ(large[0].revoked_count, test::large_crl_entries() + 3);
}

TEST(CrlFile, ReadsSeveralPemBlocks) {
    std::string both = test::read_text(test::pki("root-ca.crl.pem")) +
                       test::read_text(test::pki("intermediate-ca.crl.pem"));
    auto r = inspect_crl_file(both);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->size(), 2u);
}

TEST(CrlFile, RejectsCertificateFile) {
    auto r = inspect_crl_file(test::read_text(test::pki("root-ca.pem")));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "PEM block 1 is \"CERTIFICATE\", expected X509 CRL");
}

TEST(CrlFile, RejectsTruncatedDer) {
    std::string der = test::read_text(test::pki("large.crl.der"));
    auto r = inspect_crl_file(der.substr(0, der.size() / 2));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "DER CRL: not a DER CertificateList (expected a SEQUENCE)");
}

TEST(CrlFile, RejectsTrailingGarbage) {
    auto r = inspect_crl_file(test::read_text(test::pki("root-ca.crl.der")) + "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "DER CRL: trailing bytes after the CRL");
}

TEST(CrlFile, RejectsCorruptEntry) {
    // Flip the tag of the first revoked entry's serial INTEGER.
    std::string der = test::read_text(test::pki("root-ca.crl.der"));
    auto r0 = inspect_crl_der(std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()));
    ASSERT_TRUE(r0);
    // A revoked entry is 30 len 02 len serial...; serials from gen-pki start with 0x10.
    auto pos = der.find(std::string("\x02\x09\x10", 3));
    ASSERT_NE(pos, std::string::npos);
    der[pos] = 0x04;
    auto r = inspect_crl_file(der);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "DER CRL: malformed revokedCertificates entry 1");
}

TEST(CrlFile, RejectsEmptyAndGarbage) {
    EXPECT_FALSE(inspect_crl_file(""));
    EXPECT_FALSE(inspect_crl_file("hello world"));
    auto r = inspect_crl_file("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "CRL 1: not a CertificateList (tbsCertList, algorithm, signature)");
}

}  // namespace
}  // namespace tlsterm::crl
