// A real browser through HTTP mode: headless Chromium (Debian's package)
// loads a page with sub-resources (a stylesheet, a script, two images, two
// fetches, and whatever it asks for itself, such as /favicon.ico) over its
// kept-alive connections, in front of a keep-alive origin and origins that
// close after each response. Chromium's ClientHello (GREASE, X25519MLKEM768
// and X25519 key shares, h2 and http/1.1 in ALPN) must be served without a
// HelloRetryRequest.
#include <signal.h>

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "support/http_config.h"
#include "support/origin_peers.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

using test::contains;
using test::count_of;
using test::run_process;

bool have_chromium() {
    return run_process({"sh", "-c", "command -v chromium"}).exit_code == 0;
}

// The page's own verdict on each of its sub-resources, as Chromium leaves
// it in the DOM once the page has loaded and its fetches are done.
std::string load_page(const std::string& url) {
    auto profile = test::make_temp_dir("chromium");
    auto r = run_process(
        {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--user-data-dir=" + profile.string(), "--virtual-time-budget=10000", "--dump-dom", url},
        120);
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex(R"(<p id="verdict">([^<]*)</p>)"))) {
        return "no verdict (exit " + std::to_string(r.exit_code) + "): " + r.out + r.err;
    }
    return m[1].str();
}

TEST(BrowserTest, ChromiumLoadsAPageBehindKeepAliveAndClosingOrigins) {
    if (!have_chromium()) {
        GTEST_SKIP() << "chromium is not installed (tools/install-deps --test, which "
                        "tools/test runs, installs Debian's package); the browser test "
                        "cannot run";
    }
    const std::vector<std::string> behaviours = {"keep-alive", "close-length", "http10-eof"};
    test::behaving_origin origin(behaviours, false);
    std::string upstreams;
    std::string routes;
    for (const auto& b : behaviours) {
        upstreams += test::upstream(b, origin.port(b));
        routes += "[[listeners.routes]]\npath_prefix = \"/" + b +
                  "/\"\nupstream = " + test::quoted(b) + "\n";
    }
    test::tlsterm_server server(
        test::runtime() + upstreams +
        test::listener(behaviours.front(), "alpn = [\"http/1.1\"]\n", "", routes));
    for (const auto& b : behaviours) {
        SCOPED_TRACE(b);
        std::string url =
            "https://localhost:" + std::to_string(server.port()) + "/" + b + "/index.html";
        EXPECT_EQ(load_page(url), "css=ok four.txt=ok js=ok one=ok three.txt=ok two=ok")
            << server.log() << origin.log();
        for (const char* resource :
             {"index.html", "style.css", "app.js", "one.svg", "two.svg", "three.txt", "four.txt"}) {
            EXPECT_EQ(
                count_of(origin.log(), "request " + b + " GET /" + b + "/" + resource + " conn="),
                1u)
                << resource << "\n"
                << origin.log();
        }
    }
    std::string log = server.log();
    EXPECT_FALSE(contains(log, ": 502 ")) << log;
    EXPECT_GT(count_of(log, "TLSv1.3 full handshake"), 0u) << log;
    EXPECT_FALSE(contains(log, "HelloRetryRequest")) << log;
}

// The check above can fail: a client whose only key share is of a group
// tlsterm does not serve gets a HelloRetryRequest, and tlsterm says so.
TEST(BrowserTest, HelloRetryRequestIsLoggedAndCounted) {
    test::behaving_origin origin({"keep-alive"}, false);
    test::tlsterm_server server(test::runtime() + test::upstream("o", origin.port("keep-alive")) +
                                test::listener("o"));
    auto connect = [&](const std::string& groups) {
        return run_process(
            {"sh", "-c",
             "echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
                 " -tls1_3 -groups " + groups + " -servername localhost 2>&1"},
            30);
    };
    auto direct = connect("X25519:P-256");
    EXPECT_TRUE(contains(direct.out, "TLSv1.3")) << direct.out;
    ASSERT_TRUE(test::wait_for_count(server, "TLSv1.3 full handshake", 1)) << server.log();
    EXPECT_FALSE(contains(server.log(), "HelloRetryRequest")) << server.log();
    // P-521 is not among the listener's groups: its share is not used.
    auto retried = connect("P-521:X25519");
    EXPECT_TRUE(contains(retried.out, "TLSv1.3")) << retried.out;
    ASSERT_TRUE(test::wait_for_count(server,
                                     "full handshake, TLS13-AES128-GCM-SHA256, after a "
                                     "HelloRetryRequest",
                                     1))
        << server.log();
    server.process().signal(SIGUSR1);
    EXPECT_TRUE(test::wait_for_count(server,
                                     "handshakes: 2 completed, 1 of them after a "
                                     "HelloRetryRequest",
                                     1))
        << server.log();
}

}  // namespace
}  // namespace tlsterm
