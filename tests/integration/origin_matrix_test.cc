// HTTP mode in front of origins that behave as real ones do: closing after
// each response (HTTP/1.0 with and without a length, Connection: close with
// a length or chunks, closing late), keeping connections alive, closing an
// idle pooled connection as a request arrives on it, sending an unsolicited
// response after each one, resetting inside a response, answering before
// the request body is read.
//
// Each behaviour runs as a matrix: GET and POST, client TLS 1.2 and 1.3,
// plain and TLS origin; each cell sends 4 requests with one curl, which
// keeps its client connection alive. Every status, every body (a response
// names the request it answers, so a shifted or doubled response shows)
// and the connections curl opened are checked, and the origin's own log
// must hold exactly one copy of each request it answered.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_config.h"
#include "support/origin_peers.h"
#include "support/pki.h"
#include "support/process.h"
#include "support/server.h"

namespace tlsterm {
namespace {

using test::count_of;

struct cell {
    std::string method;  // GET or POST
    std::string tls;     // the client's TLS version: "1.2" or "1.3"
    bool tls_origin = false;

    std::string name(const std::string& behaviour) const {
        return behaviour + "-" + (method == "GET" ? "get" : "post") + "-tls" +
               (tls == "1.2" ? "12" : "13") + (tls_origin ? "-tls-origin" : "-plain-origin");
    }
};

std::vector<cell> cells() {
    std::vector<cell> out;
    for (const char* method : {"GET", "POST"}) {
        for (const char* tls : {"1.2", "1.3"}) {
            for (bool tls_origin : {false, true}) {
                out.push_back({method, tls, tls_origin});
            }
        }
    }
    return out;
}

// "close-length" -> "closelength": a test name gtest accepts.
std::string test_name(const ::testing::TestParamInfo<std::string>& behaviour) {
    std::string name = behaviour.param;
    std::erase(name, '-');
    return name;
}

// What a client saw of one request.
struct response {
    int status = 0;
    int connects = 0;  // new connections curl opened for it
    std::string body;
};

// The 4 requests of one cell through tlsterm, as curl saw them.
struct cell_run {
    std::vector<response> responses;
    int exit_code = 0;
    std::string err;
};

// Bodies of requests a cell sends with POST: small enough for tlsterm to
// read whole before it takes an origin connection, or (early-response,
// where the origin must answer while the body still streams) larger than
// buffer_request_bytes.
std::filesystem::path post_body(std::size_t bytes) {
    static const std::filesystem::path dir = test::make_temp_dir("bodies");
    auto p = dir / ("body-" + std::to_string(bytes));
    if (!std::filesystem::exists(p)) {
        test::write_file(p, std::string(bytes, 'b'));
    }
    return p;
}

constexpr const char* response_marker = "\n<<response ";

cell_run run_cell(uint16_t port, const std::string& prefix, const cell& c, std::size_t body_bytes) {
    std::vector<std::string> extra = {
        "-w", std::string(response_marker) + "%{http_code} %{num_connects}>>\n"};
    extra.insert(extra.end(), {"--tlsv" + c.tls, "--tls-max", c.tls});
    if (c.method == "POST") {
        extra.insert(extra.end(), {"--data-binary", "@" + post_body(body_bytes).string()});
    }
    std::vector<std::string> paths;
    for (int i = 1; i <= 4; ++i) {
        paths.push_back(prefix + "r" + std::to_string(i));
    }
    auto r = test::curl(port, paths, extra);
    cell_run out;
    out.exit_code = r.exit_code;
    out.err = r.err;
    std::regex marker(R"(\n<<response (\d+) (\d+)>>\n)");
    std::string rest = r.out;
    std::smatch m;
    while (std::regex_search(rest, m, marker)) {
        out.responses.push_back({std::stoi(m[1].str()), std::stoi(m[2].str()), m.prefix().str()});
        rest = m.suffix().str();
    }
    return out;
}

// What a cell expects of each of its 4 requests.
struct expected {
    int status = 200;
    int connects = 0;
    std::string body;      // exactly what the client must receive
    bool answered = true;  // the origin logs the request once; else never
    bool dropped = false;  // the origin logs it dropped once (idle-race)
};

class OriginMatrixTest : public ::testing::TestWithParam<std::string> {
  protected:
    // Runs every cell of the behaviour against one tlsterm (one shard, so a
    // cell's reconnections meet the same pools), each cell with its own
    // upstream (and pool) and path prefix. Returns tlsterm's log.
    std::string run_matrix(
        const std::function<std::vector<expected>(const cell&, const std::string&)>& expect,
        bool partial_responses = false) {
        const std::string behaviour = GetParam();
        test::behaving_origin plain({behaviour}, false);
        test::behaving_origin tls({behaviour}, true);
        std::string upstreams;
        std::string routes;
        for (const cell& c : cells()) {
            std::string name = c.name(behaviour);
            uint16_t port = c.tls_origin ? tls.port(behaviour) : plain.port(behaviour);
            upstreams +=
                test::upstream(name, port,
                               c.tls_origin ? "mode = \"tls\"\nca_file = \"pki/root-ca.pem\"\n"
                                              "server_name = \"tlsterm.test\"\n"
                                            : "",
                               "min_idle = 0\n");
            routes += "[[listeners.routes]]\npath_prefix = \"/" + name +
                      "/\"\nupstream = " + test::quoted(name) + "\n";
        }
        test::tlsterm_server server(
            test::runtime() + upstreams +
            test::listener(cells().front().name(behaviour), "", "", routes));
        for (const cell& c : cells()) {
            std::string name = c.name(behaviour);
            std::string prefix = "/" + name + "/";
            SCOPED_TRACE(name);
            std::size_t body_bytes = behaviour == "early-response" ? 8 * 1024 * 1024 : 1000;
            cell_run run = run_cell(server.port(), prefix, c, body_bytes);
            std::vector<expected> want = expect(c, prefix);
            if (run.responses.size() != want.size()) {
                ADD_FAILURE() << run.responses.size() << " responses, " << want.size()
                              << " expected; curl exit " << run.exit_code << ": " << run.err << "\n"
                              << server.log();
                continue;
            }
            for (std::size_t i = 0; i < want.size(); ++i) {
                SCOPED_TRACE("request " + std::to_string(i + 1));
                const response& got = run.responses[i];
                EXPECT_EQ(got.status, want[i].status) << server.log();
                EXPECT_EQ(got.connects, want[i].connects) << run.err;
                EXPECT_EQ(got.body, want[i].body) << server.log();
            }
            if (partial_responses) {
                EXPECT_NE(run.exit_code, 0) << "a response cut short must show as an error";
            } else {
                EXPECT_EQ(run.exit_code, 0) << run.err;
            }
        }
        // The origins log a request once it is read; they may log it a
        // moment after tlsterm passed the response on.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        for (const cell& c : cells()) {
            std::string name = c.name(behaviour);
            std::string prefix = "/" + name + "/";
            const std::string log = c.tls_origin ? tls.log() : plain.log();
            std::vector<expected> want = expect(c, prefix);
            for (std::size_t i = 0; i < want.size(); ++i) {
                std::string path = prefix + "r" + std::to_string(i + 1);
                SCOPED_TRACE(name + " " + path);
                EXPECT_EQ(
                    count_of(log, "request " + behaviour + " " + c.method + " " + path + " conn="),
                    want[i].answered ? 1u : 0u)
                    << log;
                EXPECT_EQ(count_of(log, "dropped " + behaviour + " " + path + " conn="),
                          want[i].dropped ? 1u : 0u)
                    << log;
            }
        }
        return server.log();
    }
};

std::string answer(const std::string& behaviour, const cell& c, const std::string& path) {
    return behaviour + " " + c.method + " " + path +
           " body=" + (c.method == "POST" ? "1000" : "0") + "\n";
}

// Four answered requests over one kept-alive client connection.
std::vector<expected> four_answers(const std::string& behaviour, const cell& c,
                                   const std::string& prefix) {
    std::vector<expected> out;
    for (int i = 1; i <= 4; ++i) {
        out.push_back(
            {200, i == 1 ? 1 : 0, answer(behaviour, c, prefix + "r" + std::to_string(i))});
    }
    return out;
}

// Origins that answer every request completely, whatever they do with the
// connection after it (or send after it): the client's connection stays
// alive through all four, and each request gets its own response.
class OriginsThatAnswer : public OriginMatrixTest {};

TEST_P(OriginsThatAnswer, FourRequestsOnOneClientConnection) {
    const std::string behaviour = GetParam();
    std::string log = run_matrix([&](const cell& c, const std::string& prefix) {
        return four_answers(behaviour, c, prefix);
    });
    if (behaviour == "extra-response") {
        // From a TLS origin the unsolicited response is a record of its own
        // that tlsterm holds undecrypted when the exchange ends: the
        // connection is closed, never pooled (4 cells x 4 requests).
        EXPECT_EQ(count_of(log, "bytes after a complete response, closing the connection"), 16u)
            << log;
    }
}

INSTANTIATE_TEST_SUITE_P(Behaviours, OriginsThatAnswer,
                         ::testing::Values("keep-alive", "http10-length", "close-length",
                                           "close-chunked", "close-late", "http10-eof",
                                           "extra-response"),
                         test_name);

class OriginEdgeCases : public OriginMatrixTest {};

TEST_P(OriginEdgeCases, EachRequestAnsweredOnceOrFailedVisibly) {
    const std::string behaviour = GetParam();
    if (behaviour == "idle-race") {
        // The origin closes each connection when its second request
        // arrives. A GET is sent again on a fresh connection and answered;
        // a POST is not replayed: 502, and the client connection ends.
        run_matrix([&](const cell& c, const std::string& prefix) {
            if (c.method == "GET") {
                auto out = four_answers(behaviour, c, prefix);
                for (std::size_t i = 1; i < out.size(); ++i) {
                    out[i].dropped = true;
                }
                return out;
            }
            std::string p1 = prefix + "r1";
            std::string p3 = prefix + "r3";
            return std::vector<expected>{
                {200, 1, answer(behaviour, c, p1)},
                {502, 0, "502 Bad Gateway\n", false, true},
                {200, 1, answer(behaviour, c, p3)},
                {502, 0, "502 Bad Gateway\n", false, true},
            };
        });
    } else if (behaviour == "reset-partial") {
        // Each response breaks off after 100 of its 1000 body bytes: the
        // client sees its connection cut (never a complete-looking body,
        // never a second response), and the next request a new connection.
        run_matrix(
            [&](const cell&, const std::string&) {
                return std::vector<expected>(4, {200, 1, std::string(100, 'p')});
            },
            true);
    } else if (behaviour == "early-response") {
        // A POST's answer comes before its 256 KiB body is read: the
        // response reaches the client, and neither connection can carry
        // another request (the rest of the body would be read as one).
        run_matrix([&](const cell& c, const std::string& prefix) {
            if (c.method == "GET") {
                return four_answers(behaviour, c, prefix);
            }
            std::vector<expected> out;
            for (int i = 1; i <= 4; ++i) {
                std::string path = prefix + "r" + std::to_string(i);
                out.push_back({200, 1, behaviour + " POST " + path + " early\n"});
            }
            return out;
        });
    }
}

INSTANTIATE_TEST_SUITE_P(Behaviours, OriginEdgeCases,
                         ::testing::Values("idle-race", "reset-partial", "early-response"),
                         test_name);

// A client that keeps sending after its last response is read from until
// lingering_close_ms has passed, then cut: it has its response first, and
// holds the connection no longer than that.
TEST(LingeringClose, ClientStillSendingGetsTheResponseThenIsCut) {
    test::behaving_origin origin({"early-response"}, false);
    test::tlsterm_server server(test::runtime() + "[limits]\nlingering_close_ms = 1000\n" +
                                test::upstream("early", origin.port("early-response")) +
                                test::listener("early"));
    auto r = test::run_process(
        {"python3", TLSTERM_SOURCE_DIR "/tests/integration/peers/tls_client.py", "linger",
         std::to_string(server.port()), test::pki("root-ca.pem").string(), "/upload"},
        60);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(reset after ([0-9.]+) s)")))
        << r.out << r.err << server.log();
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 200 OK\n")) << r.out;
    double after = std::stod(m[1].str());
    EXPECT_GE(after, 0.3) << r.out;  // it lingered
    EXPECT_LE(after, 4.0) << r.out;  // and not much longer than lingering_close_ms
}

}  // namespace
}  // namespace tlsterm
