// tools/gen-pki's identities, checked by a real peer: `openssl verify`.
#include <gtest/gtest.h>

#include "support/pki.h"
#include "support/process.h"

namespace tlsterm {
namespace {

std::string p(const std::string& name) {
    return test::pki(name).string();
}

test::process_result verify(std::vector<std::string> args) {
    std::vector<std::string> argv = {"openssl", "verify"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv, 60);
}

void expect_ok(const test::process_result& r, const std::string& cert) {
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(cert + ": OK"), std::string::npos) << r.out << r.err;
}

void expect_error(const test::process_result& r, const std::string& error) {
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_NE((r.out + r.err).find(error), std::string::npos) << r.out << r.err;
}

TEST(GenPki, ServerChainsVerify) {
    for (std::string s : {"server-ecdsa", "server-rsa", "server-other"}) {
        expect_ok(verify({"-CAfile", p("root-ca.pem"), "-untrusted", p("intermediate-ca.pem"),
                          "-purpose", "sslserver", p(s + ".pem")}),
                  p(s + ".pem"));
    }
    auto r = test::run_process({"openssl", "x509", "-in", p("server-rsa.pem"), "-noout", "-text"});
    EXPECT_NE(r.out.find("Public-Key: (2048 bit)"), std::string::npos);
    r = test::run_process(
        {"openssl", "x509", "-in", p("server-ecdsa.pem"), "-noout", "-ext", "subjectAltName"});
    EXPECT_NE(r.out.find("DNS:localhost, DNS:tlsterm.test, DNS:www.tlsterm.test, "
                         "DNS:api.tlsterm.test, DNS:*.wild.tlsterm.test, IP Address:127.0.0.1, "
                         "IP Address:0:0:0:0:0:0:0:1"),
              std::string::npos)
        << r.out;
}

TEST(GenPki, ValidClientsVerifyWithCrls) {
    expect_ok(verify({"-crl_check", "-CAfile", p("root-ca.pem"), "-CRLfile", p("root-ca.crl.pem"),
                      "-purpose", "sslclient", p("client-valid.pem")}),
              p("client-valid.pem"));
    expect_ok(verify({"-crl_check_all", "-CAfile", p("root-ca.pem"), "-untrusted",
                      p("intermediate-ca.pem"), "-CRLfile", p("root-ca.crl.pem"), "-CRLfile",
                      p("intermediate-ca.crl.pem"), "-purpose", "sslclient",
                      p("client-intermediate.pem")}),
              p("client-intermediate.pem"));
}

TEST(GenPki, RevokedClientsFail) {
    expect_error(verify({"-crl_check", "-CAfile", p("root-ca.pem"), "-CRLfile",
                         p("root-ca.crl.der"), p("client-revoked.pem")}),
                 "certificate revoked");
    expect_error(
        verify({"-crl_check", "-CAfile", p("root-ca.pem"), "-untrusted", p("intermediate-ca.pem"),
                "-CRLfile", p("intermediate-ca.crl.pem"), p("client-intermediate-revoked.pem")}),
        "certificate revoked");
    expect_error(
        verify({"-crl_check_all", "-CAfile", p("root-ca.pem"), "-untrusted",
                p("revoked-intermediate-ca.pem"), "-CRLfile", p("root-ca.crl.pem"), "-CRLfile",
                p("revoked-intermediate-ca.crl.pem"), p("client-under-revoked-intermediate.pem")}),
        "certificate revoked");
}

TEST(GenPki, DeltaCrlRevokesWhatTheBaseDoesNot) {
    expect_ok(verify({"-crl_check", "-CAfile", p("root-ca.pem"), "-CRLfile", p("root-ca.crl.pem"),
                      p("client-delta-revoked.pem")}),
              p("client-delta-revoked.pem"));
    expect_error(verify({"-crl_check", "-use_deltas", "-CAfile", p("root-ca.pem"), "-CRLfile",
                         p("root-ca.crl.pem"), "-CRLfile", p("root-ca-delta.crl.pem"),
                         p("client-delta-revoked.pem")}),
                 "certificate revoked");
}

TEST(GenPki, InvalidClientsFail) {
    expect_error(verify({"-CAfile", p("root-ca.pem"), p("client-expired.pem")}),
                 "certificate has expired");
    expect_error(verify({"-CAfile", p("root-ca.pem"), p("client-not-yet-valid.pem")}),
                 "certificate is not yet valid");
    expect_error(verify({"-CAfile", p("root-ca.pem"), p("client-unknown-ca.pem")}),
                 "unable to get local issuer certificate");
    // The unknown CA's own chain is fine: only the trust differs.
    expect_ok(verify({"-CAfile", p("unknown-ca.pem"), p("client-unknown-ca.pem")}),
              p("client-unknown-ca.pem"));
}

TEST(GenPki, X509v1Identities) {
    auto version = [](const std::string& file) {
        auto r = test::run_process({"openssl", "x509", "-in", p(file), "-noout", "-text"});
        auto at = r.out.find("Version: ");
        return at == std::string::npos ? std::string() : r.out.substr(at + 9, 1);
    };
    EXPECT_EQ(version("client-v1.pem"), "1");
    EXPECT_EQ(version("v1-intermediate-ca.pem"), "1");
    EXPECT_EQ(version("client-under-v1-intermediate.pem"), "3");
    EXPECT_EQ(version("client-v1-with-extensions.pem"), "1");
    expect_ok(verify({"-CAfile", p("root-ca.pem"), p("client-v1.pem")}), p("client-v1.pem"));
    // OpenSSL too takes a v1 certificate for a CA only when it is trusted.
    expect_error(verify({"-CAfile", p("root-ca.pem"), "-untrusted", p("v1-intermediate-ca.pem"),
                         p("client-under-v1-intermediate.pem")}),
                 "invalid CA certificate");
    expect_error(verify({"-CAfile", p("root-ca.pem"), p("client-v1-with-extensions.pem")}),
                 "signature failure");
}

TEST(GenPki, CrlsHaveTheRightEntries) {
    auto count = [](const std::string& file) {
        auto r = test::run_process({"openssl", "crl", "-in", p(file), "-noout", "-text"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        std::size_t n = 0;
        for (std::size_t at = 0; (at = r.out.find("Serial Number:", at)) != std::string::npos;
             ++at) {
            ++n;
        }
        return n;
    };
    EXPECT_EQ(count("root-ca-empty.crl.pem"), 0u);
    EXPECT_EQ(count("root-ca.crl.pem"), 2u);
    EXPECT_EQ(count("intermediate-ca.crl.pem"), 2u);  // client- and server-revoked
    EXPECT_EQ(count("revoked-intermediate-ca.crl.pem"), 0u);
    EXPECT_EQ(count("large.crl.pem"), test::large_crl_entries() + 3);
    // Each CRL is signed by its CA.
    for (std::string ca : {"root-ca", "intermediate-ca", "unknown-ca"}) {
        auto r = test::run_process(
            {"openssl", "crl", "-in", p(ca + ".crl.pem"), "-CAfile", p(ca + ".pem"), "-noout"});
        EXPECT_EQ(r.exit_code, 0) << ca << r.err;
        EXPECT_NE(r.err.find("verify OK"), std::string::npos) << ca << r.err;
    }
}

TEST(GenPki, RefusesBadArguments) {
    auto dir = test::make_temp_dir("genpki");
    test::write_file(dir / "keep", "x");
    auto r = test::run_process({TLSTERM_SOURCE_DIR "/tools/gen-pki", "--out", dir.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "gen-pki: " + dir.string() + " is not empty (use --force to overwrite)\n");
    r = test::run_process(
        {TLSTERM_SOURCE_DIR "/tools/gen-pki", "--out", dir.string(), "--large-crl", "lots"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--large-crl must be a number"), std::string::npos);
}

// Private keys are generated, never committed.
TEST(GenPki, NoPrivateKeyIsCommitted) {
    auto r = test::run_process({"git", "-C", TLSTERM_SOURCE_DIR, "grep", "-l", "-E",
                                "BEGIN ([A-Z]+ )?PRIVATE KEY-----", "--", ".", ":!tests"});
    if (r.exit_code == 128) {
        GTEST_SKIP() << "source tree is not a git checkout: " << r.err;
    }
    EXPECT_EQ(r.exit_code, 1) << "files with private keys:\n" << r.out;
}

}  // namespace
}  // namespace tlsterm
