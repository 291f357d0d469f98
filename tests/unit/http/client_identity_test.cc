#include "http/client_identity.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/pem.h"
#include "support/pki.h"
#include "support/process.h"

namespace tlsterm::http {
namespace {

std::vector<uint8_t> der_of(const std::string& name) {
    auto blocks = pem::decode_all(test::read_text(test::pki(name)));
    EXPECT_TRUE(blocks && !blocks->empty());
    return (*blocks)[0].der;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string value_of(const std::vector<header_field>& h, std::string_view name) {
    for (const auto& f : h) {
        if (f.name == name) {
            return f.value;
        }
    }
    return "(absent)";
}

// What openssl says about a PKI certificate.
std::string openssl(const std::string& cert, const std::string& args) {
    auto r = test::run_process(
        {"sh", "-c", "openssl x509 -in " + test::pki(cert).string() + " " + args});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

class ClientIdentity : public ::testing::Test {
  protected:
    void SetUp() override {
        leaf = der_of("client-intermediate.pem");
        inter = der_of("intermediate-ca.pem");
        id.presented = true;
        id.verified = true;
        id.leaf_der = leaf;
        id.chain_der = {inter};
    }
    std::vector<uint8_t> leaf;
    std::vector<uint8_t> inter;
    client_identity id;
};

TEST_F(ClientIdentity, Rfc9440) {
    auto h = identity_headers(identity_format::rfc9440, id);
    std::string b64 = openssl("client-intermediate.pem", "-outform DER | base64 -w0");
    std::string inter_b64 = openssl("intermediate-ca.pem", "-outform DER | base64 -w0");
    EXPECT_EQ(value_of(h, "Client-Cert"), ":" + b64 + ":");
    EXPECT_EQ(value_of(h, "Client-Cert-Chain"), ":" + inter_b64 + ":");
}

TEST_F(ClientIdentity, FieldsLikeNginxVariables) {
    auto h = identity_headers(identity_format::fields, id);
    EXPECT_EQ(value_of(h, "X-Client-Verify"), "SUCCESS");
    EXPECT_EQ(value_of(h, "X-Client-Subject"), "/O=tlsterm test/CN=client-intermediate");
    EXPECT_EQ(value_of(h, "X-Client-Issuer"), "/O=tlsterm test/CN=tlsterm Test Intermediate CA");
    std::string serial = openssl("client-intermediate.pem", "-noout -serial");
    EXPECT_EQ("serial=" + value_of(h, "X-Client-Serial") + "\n", serial);
    std::string fp = openssl("client-intermediate.pem", "-noout -fingerprint -sha256");
    fp = fp.substr(fp.find('=') + 1);
    std::erase(fp, ':');
    std::erase(fp, '\n');
    std::string ours = value_of(h, "X-Client-Fingerprint");
    std::ranges::transform(ours, ours.begin(), ::toupper);
    EXPECT_EQ(ours, fp);
    // The escaped PEM decodes to the certificate as openssl writes it.
    EXPECT_EQ(url_decode(value_of(h, "X-Client-Cert")), openssl("client-intermediate.pem", ""));
}

TEST_F(ClientIdentity, Xfcc) {
    auto v = value_of(identity_headers(identity_format::xfcc, id), "X-Forwarded-Client-Cert");
    std::string fp = openssl("client-intermediate.pem", "-noout -fingerprint -sha256");
    fp = fp.substr(fp.find('=') + 1);
    std::erase(fp, ':');
    std::erase(fp, '\n');
    std::ranges::transform(fp, fp.begin(), ::tolower);
    EXPECT_EQ(v.rfind("Hash=" + fp + ";Cert=\"-----BEGIN%20CERTIFICATE", 0), 0u) << v;
    EXPECT_NE(v.find(";Subject=\"/O=tlsterm test/CN=client-intermediate\""), std::string::npos)
        << v;
    EXPECT_NE(v.find(";URI=spiffe://tlsterm.test/client/client-intermediate"), std::string::npos)
        << v;
}

TEST_F(ClientIdentity, NothingButTheVerdictWithoutAVerifiedCertificate) {
    client_identity none;
    EXPECT_EQ(value_of(identity_headers(identity_format::fields, none), "X-Client-Verify"), "NONE");
    EXPECT_TRUE(identity_headers(identity_format::rfc9440, none).empty());
    client_identity failed = id;
    failed.verified = false;
    failed.failure = "revoked";
    auto h = identity_headers(identity_format::fields, failed);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].value, "FAILED:revoked");
    EXPECT_TRUE(identity_headers(identity_format::xfcc, failed).empty());
}

TEST_F(ClientIdentity, EveryProducedNameIsListedForStripping) {
    auto names = identity_header_names();
    for (auto format : {identity_format::rfc9440, identity_format::xfcc, identity_format::fields}) {
        for (const auto& f : identity_headers(format, id)) {
            std::string lower = f.name;
            std::ranges::transform(lower, lower.begin(), ::tolower);
            EXPECT_NE(std::ranges::find(names, lower), names.end()) << f.name;
        }
    }
}

TEST(UrlEncode, OnlyUnreservedStay) {
    EXPECT_EQ(url_encode("a-Z_0.9~"), "a-Z_0.9~");
    EXPECT_EQ(url_encode("a b/c\n+="), "a%20b%2Fc%0A%2B%3D");
}

}  // namespace
}  // namespace tlsterm::http
