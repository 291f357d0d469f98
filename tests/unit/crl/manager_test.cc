#include "crl/manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/pem.h"
#include "support/pki.h"

namespace tlsterm::crl {
namespace {

store::ca_list cas_of(std::initializer_list<const char*> names) {
    auto list = std::make_shared<std::vector<trusted_ca>>();
    for (const char* name : names) {
        auto blocks = pem::decode_all(test::read_text(test::pki(name)));
        EXPECT_TRUE(blocks && !blocks->empty());
        auto ca = make_trusted_ca((*blocks)[0].der);
        EXPECT_TRUE(ca) << ca.error();
        list->push_back(std::move(*ca));
    }
    return list;
}

TEST(CrlManager, DistributionPointsOfConfiguredCasAreSources) {
    config c;
    c.crl.fetch_timeout_ms = 2000;
    c.listeners.emplace_back();
    c.listeners[0].tls.crl_distribution_points = true;
    c.listeners[0].tls.crl_files.push_back(file_ref{test::pki("root-ca.crl.der"), {}});
    auto m = manager::create(c, cas_of({"root-ca.pem", "intermediate-ca.pem"}));
    ASSERT_TRUE(m) << m.error();
    auto status = (*m)->status();
    ASSERT_EQ(status.size(), 2u);
    EXPECT_EQ(status[0].name, test::pki("root-ca.crl.der").string());
    EXPECT_EQ(status[0].entries, 2u);
    EXPECT_TRUE(status[0].last_error.empty());
    // The intermediate names http://127.0.0.1/root-ca.crl; nothing serves it
    // here: the failure is recorded, not fatal, and the file's CRL stands.
    EXPECT_EQ(status[1].name, "http://127.0.0.1/root-ca.crl");
    EXPECT_NE(status[1].last_error.find("connect to 127.0.0.1:80"), std::string::npos)
        << status[1].last_error;
    EXPECT_EQ((*m)->current()->total_entries(), 2u);
}

// A reload builds a new manager from the running one: a URL whose
// publisher is down keeps the CRLs it had (a revocation is never dropped by
// a reload), and an unchanged file is not parsed again.
TEST(CrlManager, TheNextGenerationCarriesLastGoodCrlsOver) {
    auto dir = test::make_temp_dir("crl-carry");
    std::filesystem::copy_file(test::pki("root-ca.crl.der"), dir / "root.crl");
    config c;
    c.crl.fetch_timeout_ms = 2000;
    c.listeners.emplace_back();
    c.listeners[0].tls.crl_files.push_back(file_ref{dir / "root.crl", {}});
    auto cas = cas_of({"root-ca.pem", "intermediate-ca.pem"});
    auto first = manager::create(c, cas);
    ASSERT_TRUE(first) << first.error();
    // Same file, same CAs: the CRL objects themselves carry over.
    auto second = manager::create(c, cas, true, first->get());
    ASSERT_TRUE(second) << second.error();
    EXPECT_EQ((*second)->current()->crls_of(0).base, (*first)->current()->crls_of(0).base);
    EXPECT_EQ((*second)->status()[0].entries, 2u);
    // The file changed: read again.
    std::filesystem::copy_file(test::pki("root-ca-empty.crl.der"), dir / "root.crl",
                               std::filesystem::copy_options::overwrite_existing);
    auto third = manager::create(c, cas, true, second->get());
    ASSERT_TRUE(third) << third.error();
    EXPECT_EQ((*third)->status()[0].entries, 0u);
    // Other CAs: nothing carries over (CRLs are indexed by CA).
    auto other = manager::create(c, cas_of({"root-ca.pem"}), true, first->get());
    ASSERT_TRUE(other) << other.error();
    EXPECT_NE((*other)->current()->crls_of(0).base, (*first)->current()->crls_of(0).base);
}

TEST(CrlManager, AnUnreachableUrlKeepsItsCrlsAcrossAReload) {
    config c;
    c.crl.fetch_timeout_ms = 2000;
    c.listeners.emplace_back();
    c.listeners[0].tls.crl_distribution_points = true;  // the intermediate names a dead URL
    c.listeners[0].tls.crl_files.push_back(file_ref{test::pki("root-ca.crl.der"), {}});
    auto cas = cas_of({"root-ca.pem", "intermediate-ca.pem"});
    auto first = manager::create(c, cas);
    ASSERT_TRUE(first) << first.error();
    auto second = manager::create(c, cas, true, first->get());
    ASSERT_TRUE(second) << second.error();
    auto status = (*second)->status();
    ASSERT_EQ(status.size(), 2u);
    // Carried over with its schedule: not fetched again by the reload.
    EXPECT_EQ(status[1].last_attempt, (*first)->status()[1].last_attempt);
    EXPECT_EQ((*second)->current()->total_entries(), 2u);
}

TEST(CrlManager, ABadFileAtStartIsAnError) {
    config c;
    c.listeners.emplace_back();
    c.listeners[0].tls.crl_files.push_back(file_ref{test::pki("unknown-ca.crl.pem"), {}});
    auto m = manager::create(c, cas_of({"root-ca.pem"}));
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().find("unknown-ca.crl.pem: issued by /O=tlsterm test/CN=tlsterm Untrusted "
                             "CA, which is not a CA in ca_files"),
              std::string::npos)
        << m.error();
}

TEST(CrlManager, ReaderFollowsPublishedStores) {
    config c;
    c.listeners.emplace_back();
    c.listeners[0].tls.crl_files.push_back(file_ref{test::pki("root-ca.crl.der"), {}});
    auto m = manager::create(c, cas_of({"root-ca.pem"}));
    ASSERT_TRUE(m) << m.error();
    manager::reader r(m->get());
    auto first = r.current();
    EXPECT_EQ(r.current().get(), first.get());  // unchanged: the cached snapshot
    (*m)->start();
    uint64_t g = (*m)->generation();
    (*m)->request_reload();
    for (int i = 0; i < 200 && (*m)->generation() == g; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_NE((*m)->generation(), g);
    EXPECT_NE(r.current().get(), first.get());
    EXPECT_EQ(r.current()->total_entries(), 2u);
    (*m)->stop();
}

}  // namespace
}  // namespace tlsterm::crl
