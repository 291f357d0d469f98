#include "crl/store.h"

#include <gtest/gtest.h>

#include "common/pem.h"
#include "crl/crl_file.h"
#include "support/pki.h"
#include "x509/certificate.h"
#include "x509/name.h"

namespace tlsterm::crl {
namespace {

std::vector<uint8_t> der_of(const std::string& pem_name) {
    auto blocks = pem::decode_all(test::read_text(test::pki(pem_name)));
    EXPECT_TRUE(blocks && !blocks->empty()) << pem_name;
    return blocks && !blocks->empty() ? (*blocks)[0].der : std::vector<uint8_t>{};
}

x509::certificate cert_of(const std::string& pem_name) {
    auto c = x509::parse_certificate(der_of(pem_name));
    EXPECT_TRUE(c) << pem_name << ": " << c.error();
    return c ? *c : x509::certificate{};
}

// root (0), intermediate (1), revoked intermediate (2)
store::ca_list cas() {
    auto list = std::make_shared<std::vector<trusted_ca>>();
    for (const char* name : {"root-ca.pem", "intermediate-ca.pem", "revoked-intermediate-ca.pem"}) {
        auto ca = make_trusted_ca(der_of(name));
        EXPECT_TRUE(ca) << ca.error();
        list->push_back(std::move(*ca));
    }
    return list;
}

crl_list load(const std::string& name, const store::ca_list& c) {
    auto r = load_crls(test::read_text(test::pki(name)), name, *c);
    EXPECT_TRUE(r) << name << ": " << r.error();
    return r ? *r : crl_list{};
}

std::shared_ptr<const store> build(std::initializer_list<std::string> names) {
    auto c = cas();
    crl_list all;
    for (const auto& n : names) {
        auto l = load(n, c);
        all.insert(all.end(), l.begin(), l.end());
    }
    return store::build(c, all);
}

store::status status_of(const store& s, const std::string& client) {
    auto c = cert_of(client);
    auto ca = s.find_issuer(c);
    EXPECT_TRUE(ca) << client;
    return ca ? s.check(*ca, c.serial).result : store::status::no_crl;
}

TEST(CertificateFields, ReadsWhatChecksNeed) {
    auto leaf = cert_of("client-valid.pem");
    auto root = cert_of("root-ca.pem");
    EXPECT_EQ(leaf.issuer_der, root.subject_der);
    EXPECT_EQ(leaf.authority_key_id, root.subject_key_id);
    EXPECT_FALSE(leaf.subject_key_id.empty());
    EXPECT_FALSE(leaf.is_ca);
    EXPECT_TRUE(root.is_ca);
    EXPECT_TRUE(root.self_issued());
    EXPECT_EQ(leaf.emails, std::vector<std::string>{"client-valid@tlsterm.test"});
    EXPECT_EQ(leaf.uris, std::vector<std::string>{"spiffe://tlsterm.test/client/client-valid"});
    EXPECT_LT(leaf.not_before, leaf.not_after);
    EXPECT_EQ(x509::common_name(leaf.subject_der), "client-valid");
    EXPECT_TRUE(leaf.crl_urls.empty());
    EXPECT_EQ(cert_of("intermediate-ca.pem").crl_urls,
              std::vector<std::string>{"http://127.0.0.1/root-ca.crl"});
    EXPECT_FALSE(x509::parse_certificate(std::vector<uint8_t>{0x30, 0x03, 0x02, 0x01}).has_value());
}

TEST(CertificateFields, VersionAndExtensions) {
    auto v3 = cert_of("client-valid.pem");
    EXPECT_EQ(v3.version, 3);
    EXPECT_TRUE(v3.has_extensions);
    auto v1 = cert_of("client-v1.pem");
    EXPECT_EQ(v1.version, 1);
    EXPECT_FALSE(v1.has_extensions);
    EXPECT_EQ(x509::common_name(v1.subject_der), "client-v1");
    auto forged = cert_of("client-v1-with-extensions.pem");
    EXPECT_EQ(forged.version, 1);
    EXPECT_TRUE(forged.has_extensions);
}

TEST(CertificateFields, UsagesForClientAuthentication) {
    auto valid = cert_of("client-valid.pem");
    ASSERT_TRUE(valid.key_usage);
    EXPECT_EQ(*valid.key_usage, 1u);  // digitalSignature
    EXPECT_EQ(valid.extended_key_usage.size(), 1u);
    EXPECT_EQ(valid.client_auth_refusal(), "");
    auto ca = cert_of("intermediate-ca.pem");
    ASSERT_TRUE(ca.key_usage);
    EXPECT_EQ(*ca.key_usage, (1u << 5) | (1u << 6));  // keyCertSign, cRLSign
    EXPECT_EQ(ca.client_auth_refusal(),
              "is a CA certificate (basicConstraints cA), not a client certificate");
    EXPECT_EQ(cert_of("client-no-digital-signature.pem").client_auth_refusal(),
              "has a keyUsage without digitalSignature, which a TLS client needs to sign the "
              "handshake");
    EXPECT_EQ(cert_of("client-server-eku.pem").client_auth_refusal(),
              "has an extendedKeyUsage without clientAuth");
    auto v1 = cert_of("client-v1.pem");
    EXPECT_FALSE(v1.key_usage);
    EXPECT_EQ(v1.client_auth_refusal(), "");
}

TEST(CertificateSignature, VerifiesWithTheIssuersKeyOnly) {
    auto root = cert_of("root-ca.pem");
    EXPECT_TRUE(verify_certificate_signature(der_of("client-valid.pem"), root));
    EXPECT_TRUE(verify_certificate_signature(der_of("client-v1.pem"), root));
    EXPECT_TRUE(verify_certificate_signature(der_of("intermediate-ca.pem"), root));
    auto other =
        verify_certificate_signature(der_of("client-valid.pem"), cert_of("unknown-ca.pem"));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error(),
              "ecdsa-with-SHA256 signature does not verify with the key of CA /O=tlsterm "
              "test/CN=tlsterm Untrusted CA");
    // The signed bytes changed (its version field removed): no longer verifies.
    EXPECT_FALSE(verify_certificate_signature(der_of("client-v1-with-extensions.pem"), root));
    auto rsa = verify_certificate_signature(der_of("client-valid.pem"), cert_of("rsa-ca.pem"));
    ASSERT_FALSE(rsa);
    EXPECT_EQ(rsa.error(),
              "CA /O=tlsterm test/CN=tlsterm Test RSA Root CA has no EC key for a "
              "ecdsa-with-SHA256 signature");
    EXPECT_FALSE(verify_certificate_signature(std::vector<uint8_t>{0x30, 0x00}, root));
}

TEST(CrlStore, AttributesEachCrlToItsCa) {
    auto c = cas();
    auto root = load("root-ca.crl.der", c);
    ASSERT_EQ(root.size(), 1u);
    EXPECT_EQ(root[0]->ca, 0u);
    EXPECT_EQ(root[0]->entries, 2u);
    auto inter = load("intermediate-ca.crl.pem", c);
    ASSERT_EQ(inter.size(), 1u);
    EXPECT_EQ(inter[0]->ca, 1u);
    auto wrong = load_crls(test::read_text(test::pki("unknown-ca.crl.pem")), "u", *c);
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().find("which is not a CA in ca_files"), std::string::npos)
        << wrong.error();
}

TEST(CrlStore, RevokedGoodAndMissing) {
    auto s = build({"root-ca.crl.pem"});
    EXPECT_EQ(status_of(*s, "client-revoked.pem"), store::status::revoked);
    EXPECT_EQ(status_of(*s, "client-valid.pem"), store::status::good);
    EXPECT_EQ(status_of(*s, "revoked-intermediate-ca.pem"), store::status::revoked);
    // The intermediate's CRL is not loaded.
    EXPECT_EQ(status_of(*s, "client-intermediate-revoked.pem"), store::status::no_crl);
    EXPECT_EQ(s->total_entries(), 2u);
}

TEST(CrlStore, DeltaAppliesOnTopOfItsBase) {
    EXPECT_EQ(status_of(*build({"root-ca.crl.pem"}), "client-delta-revoked.pem"),
              store::status::good);
    auto s = build({"root-ca-delta.crl.der", "root-ca.crl.der"});
    EXPECT_EQ(status_of(*s, "client-delta-revoked.pem"), store::status::revoked);
    EXPECT_EQ(status_of(*s, "client-revoked.pem"), store::status::revoked);
    // A delta without the base it refers to is not used.
    EXPECT_EQ(status_of(*build({"root-ca-delta.crl.der"}), "client-delta-revoked.pem"),
              store::status::no_crl);
}

TEST(CrlStore, NewestBaseWins) {
    // root-ca-empty was issued first (lower cRLNumber), whatever the order.
    for (auto s : {build({"root-ca-empty.crl.pem", "root-ca.crl.pem"}),
                   build({"root-ca.crl.pem", "root-ca-empty.crl.pem"})}) {
        EXPECT_EQ(status_of(*s, "client-revoked.pem"), store::status::revoked);
    }
}

TEST(CrlStore, NextUpdateIsReported) {
    auto s = build({"root-ca-stale.crl.pem"});
    auto nu = s->next_update(0);
    ASSERT_TRUE(nu);
    EXPECT_LT(*nu, std::time(nullptr));
    EXPECT_FALSE(s->next_update(1));  // no CRL for the intermediate
}

TEST(CrlNumbers, CompareAsIntegers) {
    std::vector<uint8_t> one{0x01}, two{0x02}, padded_two{0x00, 0x02}, big{0x01, 0x00};
    EXPECT_LT(compare_crl_numbers(one, two), 0);
    EXPECT_EQ(compare_crl_numbers(two, padded_two), 0);
    EXPECT_GT(compare_crl_numbers(big, two), 0);
}

}  // namespace
}  // namespace tlsterm::crl
