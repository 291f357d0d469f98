#include "tls/client_auth.h"

#include <gtest/gtest.h>

#include "common/pem.h"
#include "support/pki.h"
#include "x509/certificate.h"

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

std::vector<uint8_t> der_of(const std::string& pem_name) {
    auto blocks = pem::decode_all(test::read_text(test::pki(pem_name)));
    EXPECT_TRUE(blocks && !blocks->empty()) << pem_name;
    return blocks && !blocks->empty() ? (*blocks)[0].der : std::vector<uint8_t>{};
}

// A verifier of `mode` trusting one CA file, with no CRLs (optional).
struct verifier_fixture {
    explicit verifier_fixture(client_auth_mode mode, const char* ca = "root-ca.pem",
                              bool require_x509v3 = false,
                              std::vector<std::string> allow_subjects = {}) {
        auto path = test::pki(ca);
        EXPECT_TRUE(anchors.add_file(path, test::read_text(path)));
        client_auth_config c;
        c.mode = mode;
        c.require_x509v3 = require_x509v3;
        c.allow_subjects = std::move(allow_subjects);
        c.ca_files.push_back({file_ref{path, {}}, crl_policy::optional});
        policy = auth_policy::make(c, anchors);
        crls = crl::store::build(anchors.cas, {});
    }
    client_verifier make() const { return client_verifier(policy, crls); }

    trust_anchors anchors;
    auth_policy policy;
    std::shared_ptr<const crl::store> crls;
};

// check_chain over PKI files (leaf first).
std::optional<rejection> check(client_verifier& v, std::initializer_list<const char*> names) {
    std::vector<std::vector<uint8_t>> ders;
    for (const char* n : names) {
        ders.push_back(der_of(n));
    }
    std::vector<std::span<const uint8_t>> chain(ders.begin(), ders.end());
    return v.check_chain(chain, std::time(nullptr));
}

TEST(AuthenticationGap, RequireNeedsAChainVerifiedInThisHandshake) {
    verifier_fixture f(client_auth_mode::require);
    EXPECT_EQ(authentication_gap(client_auth_mode::none, nullptr, false), std::nullopt);
    EXPECT_EQ(authentication_gap(client_auth_mode::none, nullptr, true), std::nullopt);
    EXPECT_EQ(authentication_gap(client_auth_mode::require, nullptr, false),
              "no certificate verifier was installed for this handshake");

    // The callback never ran: a resumed session, or a library that skipped it.
    auto untouched = f.make();
    EXPECT_EQ(authentication_gap(client_auth_mode::require, &untouched, true),
              "client_auth = \"require\" and the session was resumed: no certificate was "
              "verified in this handshake");
    EXPECT_EQ(authentication_gap(client_auth_mode::require, &untouched, false),
              "client_auth = \"require\" and no certificate was verified in this handshake");
    EXPECT_EQ(authentication_gap(client_auth_mode::optional, &untouched, true), std::nullopt);

    auto verified = f.make();
    ASSERT_EQ(check(verified, {"client-valid.pem"}), std::nullopt);
    EXPECT_TRUE(verified.verified());
    EXPECT_EQ(verified.x509_version(), 3);
    EXPECT_EQ(authentication_gap(client_auth_mode::require, &verified, false), std::nullopt);
    EXPECT_EQ(authentication_gap(client_auth_mode::optional, &verified, false), std::nullopt);

    // A verdict the library ignored fails the connection on any policy.
    auto refused = f.make();
    refused.note_no_certificate();
    EXPECT_EQ(authentication_gap(client_auth_mode::optional, &refused, false),
              "the handshake completed although its client certificate was rejected "
              "(no_certificate)");
}

TEST(AuthenticationGap, OptionalNeverReportsWhatItDidNotVerify) {
    verifier_fixture f(client_auth_mode::optional, "root-ca.pem", false, {"/CN=nobody"});
    auto v = f.make();
    // Presented, then refused by tlsterm's own checks, with the verdict
    // lost on the way (the callback would have recorded it).
    auto r = check(v, {"client-valid.pem"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::not_allowed);
    EXPECT_TRUE(v.presented());
    EXPECT_FALSE(v.verified());
    EXPECT_EQ(authentication_gap(client_auth_mode::optional, &v, false),
              "a client certificate was presented but not verified");
}

TEST(ClientVerifier, IdentityIsTheChainItChecked) {
    verifier_fixture f(client_auth_mode::require);
    auto v = f.make();
    EXPECT_EQ(v.identity(), nullptr);  // nothing verified yet
    ASSERT_EQ(check(v, {"client-valid.pem", "root-ca.pem"}), std::nullopt);
    ASSERT_NE(v.identity(), nullptr);
    ASSERT_EQ(v.identity()->chain.size(), 2u);
    EXPECT_EQ(v.identity()->chain[0], der_of("client-valid.pem"));
    EXPECT_EQ(v.identity()->serial, v.serial());
    // A full handshake: the chain's identity stands, none from a ticket.
    v.conclude(false);
    EXPECT_TRUE(v.verified());
    EXPECT_FALSE(v.restored());
    EXPECT_EQ(authentication_gap(client_auth_mode::require, &v, false), std::nullopt);
}

TEST(ClientVerifier, RestoredIdentityIsCheckedAgainAndOnlyCountsWhenResumed) {
    verifier_fixture f(client_auth_mode::require);
    auto first = f.make();
    ASSERT_EQ(check(first, {"client-valid.pem"}), std::nullopt);
    auto id = first.identity();

    // Resumed: the ticket's identity, checked again now.
    auto resumed = f.make();
    EXPECT_EQ(resumed.check_restored(id, std::time(nullptr)), std::nullopt);
    resumed.conclude(true);
    EXPECT_TRUE(resumed.verified());
    EXPECT_TRUE(resumed.restored());
    EXPECT_EQ(resumed.serial(), first.serial());
    EXPECT_EQ(authentication_gap(client_auth_mode::require, &resumed, true), std::nullopt);

    // Restored, but the handshake went full without a certificate: nothing.
    auto full = f.make();
    EXPECT_EQ(full.check_restored(id, std::time(nullptr)), std::nullopt);
    full.conclude(false);
    EXPECT_FALSE(full.verified());
    EXPECT_NE(authentication_gap(client_auth_mode::require, &full, false), std::nullopt);

    // Another ticket opened after it: what the first restored is dropped.
    auto other = f.make();
    EXPECT_EQ(other.check_restored(id, std::time(nullptr)), std::nullopt);
    other.clear_restored();
    other.conclude(true);
    EXPECT_FALSE(other.verified());
    EXPECT_NE(authentication_gap(client_auth_mode::require, &other, true), std::nullopt);

    // Past the certificate's notAfter, it is refused by name.
    auto later = f.make();
    auto r = later.check_restored(id, id->parsed[0].not_after + 1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::expired);
}

TEST(ClientVerifier, RestoredIdentityOfAnotherCaIsRefused) {
    verifier_fixture f(client_auth_mode::require);
    auto first = f.make();
    ASSERT_EQ(check(first, {"client-valid.pem"}), std::nullopt);
    verifier_fixture other(client_auth_mode::require, "unknown-ca.pem");
    auto v = other.make();
    auto r = v.check_restored(first.identity(), std::time(nullptr));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::unknown_ca);
}

TEST(ClientVerifier, LegacyLeavesAreCheckedByTlstermItself) {
    verifier_fixture f(client_auth_mode::require);
    auto one = [](const std::vector<uint8_t>& der) {
        return std::vector<std::span<const uint8_t>>{std::span<const uint8_t>(der)};
    };
    auto v1 = der_of("client-v1.pem");
    auto v = f.make();
    EXPECT_EQ(v.check_legacy_leaf(one(v1)), std::nullopt);
    ASSERT_EQ(check(v, {"client-v1.pem"}), std::nullopt);
    EXPECT_EQ(v.x509_version(), 1);

    // require_x509v3 refuses it by name.
    verifier_fixture strict(client_auth_mode::require, "root-ca.pem", true);
    auto s = strict.make();
    auto r = s.check_legacy_leaf(one(v1));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::not_x509v3);
    EXPECT_NE(r->detail.find("CN=client-v1) is X.509 v1 and require_x509v3 = true"),
              std::string::npos)
        << r->detail;

    // A "v1" with extensions, which wolfSSL reports with the same error
    // code without checking its signature: never overridden.
    auto forged = der_of("client-v1-with-extensions.pem");
    r = f.make().check_legacy_leaf(one(forged));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::invalid);
    EXPECT_NE(r->detail.find("X.509 v1 with extensions"), std::string::npos) << r->detail;

    // A v1 leaf with a bad signature, and one from an unconfigured CA.
    auto tampered = v1;
    tampered[tampered.size() - 3] ^= 1;
    r = f.make().check_legacy_leaf(one(tampered));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::bad_signature);
    verifier_fixture other(client_auth_mode::require, "unknown-ca.pem");
    r = other.make().check_legacy_leaf(one(v1));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, cert_reject::unknown_ca);
}

TEST(FirstSighting, OncePerCertificate) {
    std::array<uint8_t, 32> a{1};
    std::array<uint8_t, 32> b{2};
    EXPECT_TRUE(first_sighting(a));
    EXPECT_FALSE(first_sighting(a));
    EXPECT_TRUE(first_sighting(b));
}

}  // namespace
}  // namespace tlsterm::tls
