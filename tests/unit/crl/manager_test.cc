#include "crl/manager.h"

#include <gtest/gtest.h>

#include <chrono>
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
