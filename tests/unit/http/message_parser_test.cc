#include "http/message_parser.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace tlsterm::http {
namespace {

using event = message_parser::event;

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Everything a parser makes of `input`, fed in pieces of `step` bytes.
struct transcript {
    std::vector<message_head> heads;
    std::vector<std::string> bodies;  // one per request
    std::size_t ends = 0;
    std::optional<parse_error> error;
};

transcript parse(const std::string& input, std::size_t step = 1 << 20, message_limits l = {},
                 message_parser::kind k = message_parser::kind::request,
                 bool head_request = false) {
    message_parser p(k, l);
    p.expect_head_response(head_request);
    transcript t;
    std::string pending;
    // Every event but the last of a call consumes or reports something; a
    // parser that stops making progress fails here instead of hanging.
    std::size_t budget = input.size() * 4 + 64;
    for (std::size_t at = 0; at < input.size() && !t.error; at += step) {
        pending += input.substr(at, step);
        for (;;) {
            if (budget-- == 0) {
                ADD_FAILURE() << "the parser stopped making progress";
                return t;
            }
            auto r = p.next(bytes(pending));
            // r.body views `pending`: copy it before erasing what was consumed.
            std::string piece(reinterpret_cast<const char*>(r.body.data()), r.body.size());
            pending.erase(0, r.consumed);
            if (r.what == event::head) {
                t.heads.push_back(p.head());
                t.bodies.emplace_back();
            } else if (r.what == event::body) {
                t.bodies.back() += piece;
            } else if (r.what == event::end) {
                ++t.ends;
            } else if (r.what == event::error) {
                t.error = p.error();
                break;
            } else {
                break;  // need_more
            }
        }
    }
    return t;
}

TEST(MessageParser, SimpleGet) {
    auto t = parse("GET /a?b=c HTTP/1.1\r\nHost: example.org\r\nX-Y:  spaced  \r\n\r\n");
    ASSERT_FALSE(t.error) << t.error->reason;
    ASSERT_EQ(t.heads.size(), 1u);
    const auto& h = t.heads[0];
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.target, "/a?b=c");
    EXPECT_EQ(h.version_minor, 1);
    ASSERT_NE(h.find("x-y"), nullptr);
    EXPECT_EQ(h.find("X-Y")->value, "spaced");
    EXPECT_TRUE(h.keep_alive);
    EXPECT_FALSE(h.content_length);
    EXPECT_EQ(t.ends, 1u);
}

TEST(MessageParser, BodiesStreamWhateverThePieces) {
    std::string req =
        "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{7}, req.size()}) {
        auto t = parse(req, step);
        ASSERT_FALSE(t.error) << step << ": " << t.error->reason;
        ASSERT_EQ(t.heads.size(), 2u) << step;
        EXPECT_EQ(t.heads[0].content_length, 11u);
        EXPECT_TRUE(t.heads[1].chunked);
        EXPECT_EQ(t.bodies[0], "hello world");
        EXPECT_EQ(t.bodies[1], "hello world");
        EXPECT_EQ(t.ends, 2u);
    }
}

TEST(MessageParser, PipelinedRequestsComeOneAtATime) {
    std::string two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    message_parser p(message_parser::kind::request);
    auto r = p.next(bytes(two));
    EXPECT_EQ(r.what, event::head);
    EXPECT_EQ(p.head().target, "/1");
    std::size_t used = r.consumed;
    r = p.next(bytes(two).subspan(used));
    EXPECT_EQ(r.what, event::end);
    used += r.consumed;
    EXPECT_EQ(two.substr(used).rfind("GET /2", 0), 0u);  // the second one is untouched
    r = p.next(bytes(two).subspan(used));
    EXPECT_EQ(r.what, event::head);
    EXPECT_EQ(p.head().target, "/2");
}

TEST(MessageParser, KeepAliveUpgradeAndExpect) {
    auto t = parse("GET / HTTP/1.0\r\n\r\n");
    ASSERT_FALSE(t.error);
    EXPECT_FALSE(t.heads[0].keep_alive);
    t = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_FALSE(t.heads[0].keep_alive);
    t = parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_FALSE(t.error);
    EXPECT_TRUE(t.heads[0].upgrade);
    t = parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx");
    ASSERT_FALSE(t.error);
    EXPECT_TRUE(t.heads[0].expect_continue);
    t = parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n");
    ASSERT_TRUE(t.error);
    EXPECT_EQ(t.error->status, 417);
}

struct refused {
    const char* what;
    std::string request;
    int status;
};

TEST(MessageParser, SmugglingShapesAreRefused) {
    for (const auto& r : {
             refused{"Content-Length with Transfer-Encoding",
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n0\r\n\r\n",
                     400},
             refused{"duplicate Content-Length",
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                     400},
             refused{"Content-Length list",
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400},
             refused{"bad chunk size",
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
             refused{"chunk size overflow",
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "fffffffffffffffffff\r\n",
                     400},
             refused{"chunk size 2^64-1",
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "ffffffffffffffff\r\n",
                     400},
             refused{"chunk data past its size",
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabcdef",
                     400},
             refused{"Transfer-Encoding in HTTP/1.0",
                     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
                     "0\r\n\r\n",
                     400},
             refused{"chunked not last",
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
             refused{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
             refused{"bare LF in one field", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
             refused{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400},
             refused{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
             refused{"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
             refused{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
             refused{"unknown method", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
         }) {
        for (std::size_t step : {std::size_t{1}, r.request.size()}) {
            auto t = parse(r.request, step);
            ASSERT_TRUE(t.error) << r.what << " (step " << step << ")";
            EXPECT_EQ(t.error->status, r.status) << r.what << ": " << t.error->reason;
            EXPECT_FALSE(t.error->reason.empty());
            EXPECT_EQ(t.ends, 0u) << r.what;
        }
    }
}

TEST(MessageParser, Limits) {
    message_limits l;
    l.max_head_bytes = 256;
    l.max_headers = 3;
    l.max_target_bytes = 16;
    auto t = parse("GET /" + std::string(20, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 1 << 20, l);
    ASSERT_TRUE(t.error);
    EXPECT_EQ(t.error->status, 414);
    t = parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 1 << 20, l);
    ASSERT_TRUE(t.error);
    EXPECT_EQ(t.error->status, 431);
    t = parse("GET / HTTP/1.1\r\nHost: a\r\nA: " + std::string(300, 'x') + "\r\n\r\n", 5, l);
    ASSERT_TRUE(t.error);
    EXPECT_EQ(t.error->status, 431);
    // A large body is not a large head.
    t = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'),
              64, l);
    ASSERT_FALSE(t.error) << t.error->reason;
    EXPECT_EQ(t.bodies[0].size(), 1000u);
}

TEST(MessageParser, Responses) {
    constexpr auto response = message_parser::kind::response;
    std::string two =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for (std::size_t step : {std::size_t{1}, two.size()}) {
        auto t = parse(two, step, {}, response);
        ASSERT_FALSE(t.error) << t.error->reason;
        ASSERT_EQ(t.heads.size(), 2u);
        EXPECT_EQ(t.heads[0].status, 200);
        EXPECT_EQ(t.heads[0].reason, "OK");
        EXPECT_EQ(t.bodies[0], "hello");
        EXPECT_EQ(t.heads[1].status, 404);
        EXPECT_TRUE(t.heads[1].chunked);
        EXPECT_EQ(t.bodies[1], "abc");
        EXPECT_EQ(t.ends, 2u);
    }
    // 204, 304 and 1xx carry no body; nor does the answer to HEAD.
    auto t = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 1 << 20, {},
                   response);
    ASSERT_FALSE(t.error) << t.error->reason;
    EXPECT_EQ(t.ends, 2u);
    t = parse(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\n"
        "Content-Length: 0\r\n\r\n",
        1 << 20, {}, response, /*head_request=*/true);
    ASSERT_FALSE(t.error) << t.error->reason;
    EXPECT_EQ(t.heads.size(), 2u);
    EXPECT_EQ(t.heads[0].content_length, 100u);
    EXPECT_EQ(t.bodies[0], "");
    // A 304 or 204 with the Content-Length of the representation: still no
    // body; the next response is a response, not 100 bytes of body.
    for (const char* status : {"304 Not Modified", "204 No Content", "103 Early Hints"}) {
        t = parse(
            std::string("HTTP/1.1 ") + status +
                "\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            1 << 20, {}, response);
        ASSERT_FALSE(t.error) << status << ": " << t.error->reason;
        ASSERT_EQ(t.heads.size(), 2u) << status;
        EXPECT_EQ(t.bodies[0], "") << status;
        EXPECT_EQ(t.heads[1].status, 200) << status;
        EXPECT_EQ(t.bodies[1], "ok") << status;
        EXPECT_EQ(t.ends, 2u) << status;
    }
    // Without a length, the body runs to the end of the connection: no end yet.
    t = parse("HTTP/1.1 200 OK\r\n\r\nstream...", 1 << 20, {}, response);
    ASSERT_FALSE(t.error);
    EXPECT_EQ(t.bodies[0], "stream...");
    EXPECT_EQ(t.ends, 0u);
    EXPECT_FALSE(t.heads[0].keep_alive);
}

TEST(MessageParser, BadResponsesAreBadGateway) {
    constexpr auto response = message_parser::kind::response;
    for (const std::string& bad :
         {std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
          std::string("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
          std::string("HTTP/1.1 2000 OK\r\n\r\n"), std::string("garbage\r\n\r\n"),
          std::string("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
          std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "ffffffffffffffff\r\n")}) {
        auto t = parse(bad, 1 << 20, {}, response);
        ASSERT_TRUE(t.error) << bad;
        EXPECT_EQ(t.error->status, 502) << bad << ": " << t.error->reason;
    }
}

// A caller that drains its buffer completely hands the parser an empty span
// (often a null pointer) between pieces of one body; no byte may be lost.
TEST(MessageParser, BodySpanningManyCallsWithEmptyCallsBetween) {
    for (bool chunked : {false, true}) {
        message_parser p(message_parser::kind::request);
        std::vector<uint8_t> buffer;
        auto append = [&](const std::string& s) {
            buffer.insert(buffer.end(), s.begin(), s.end());
        };
        constexpr std::size_t total = 300000;
        constexpr std::size_t piece = 16384;
        append(chunked ? "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       : "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(total) +
                             "\r\n\r\n");
        std::size_t fed = 0;
        std::string received;
        bool ended = false;
        for (int guard = 0; guard < 10000 && !ended; ++guard) {
            auto r = p.next(buffer);
            ASSERT_NE(r.what, event::error) << p.error().reason;
            if (r.what == event::body) {
                ASSERT_LE(r.body.size(), buffer.size());
                received.append(reinterpret_cast<const char*>(r.body.data()), r.body.size());
            }
            buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.consumed));
            if (buffer.empty()) {
                std::vector<uint8_t>().swap(buffer);  // data() is null again
            }
            ended = r.what == event::end;
            if (r.what == event::need_more && fed < total) {
                std::size_t n = std::min(piece, total - fed);
                std::string data(n, static_cast<char>('a' + fed / piece % 26));
                char size[32];
                std::snprintf(size, sizeof(size), "%zx\r\n", n);
                append(chunked ? std::string(size) + data + "\r\n" : data);
                fed += n;
                if (chunked && fed == total) {
                    append("0\r\n\r\n");
                }
            }
        }
        ASSERT_TRUE(ended) << chunked;
        ASSERT_EQ(received.size(), total) << chunked;
        for (std::size_t i = 0; i < total; i += piece) {
            EXPECT_EQ(received[i], static_cast<char>('a' + i / piece % 26)) << i;
        }
    }
}

// Feeds `input` whole to `p` until an event other than body; returns it
// with the body collected.
std::pair<event, std::string> drain_events(message_parser& p, const std::string& input) {
    std::string body;
    std::size_t at = 0;
    for (int guard = 0; guard < 100; ++guard) {
        const std::string rest = input.substr(at);  // r.body views it
        auto r = p.next(bytes(rest));
        at += r.consumed;
        if (r.what == event::body) {
            body.append(reinterpret_cast<const char*>(r.body.data()), r.body.size());
            continue;
        }
        if (r.what == event::head) {
            continue;
        }
        return {r.what, body};
    }
    ADD_FAILURE() << "no progress";
    return {event::error, body};
}

TEST(MessageParser, ResetStartsEachResponseStreamFresh) {
    // Every way an origin ends a response with its connection: the next
    // response comes on another connection, and the parser that read the
    // first must not read the second as part of (or after) it.
    const std::vector<std::string> closing = {
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\nab\r\n0\r\n\r\n",
    };
    const std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz";
    for (const auto& first : closing) {
        SCOPED_TRACE(first);
        message_parser p(message_parser::kind::response);
        auto [what, body] = drain_events(p, first);
        EXPECT_EQ(what, event::end);
        EXPECT_EQ(body, "ab");
        EXPECT_FALSE(p.head().keep_alive);
        // Without a reset, llhttp 8.1 (in strict mode, as tlsterm builds
        // it) refuses whatever follows a message that did not keep the
        // connection alive: never read as a message.
        auto stale = drain_events(p, next);
        EXPECT_EQ(stale.first, event::error);
        EXPECT_EQ(stale.second, "");
        p.reset();
        auto fresh = drain_events(p, next);
        EXPECT_EQ(fresh.first, event::end);
        EXPECT_EQ(fresh.second, "xyz");
        EXPECT_TRUE(p.head().keep_alive);
    }
    // A body delimited by the end of the connection: finish() ends it;
    // without a reset the next response's bytes would be read as body.
    message_parser p(message_parser::kind::response);
    auto [what, body] = drain_events(p, "HTTP/1.0 200 OK\r\n\r\nuntil close");
    EXPECT_EQ(what, event::need_more);
    EXPECT_EQ(body, "until close");
    EXPECT_EQ(p.finish().what, event::end);
    p.reset();
    auto fresh = drain_events(p, next);
    EXPECT_EQ(fresh.first, event::end);
    EXPECT_EQ(fresh.second, "xyz");
    // A HEAD request's answer: reset clears it too, so the next response's
    // body is read.
    p.reset();
    p.expect_head_response(true);
    EXPECT_EQ(drain_events(p, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n").first, event::end);
    p.reset();
    auto after_head = drain_events(p, next);
    EXPECT_EQ(after_head.second, "xyz");
}

}  // namespace
}  // namespace tlsterm::http
