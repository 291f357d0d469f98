// The HTTP forwarder over a real pool, its origin connections driven by
// scripted completions (tests/unit/harness) and its client side recorded:
// origins of every kind (keep-alive, closing after each response, closing
// as a reused connection's request goes out, answering until EOF,
// resetting mid-response, refusing, never answering), pipelining, both
// directions' backpressure, the request deadlines, and the client leaving
// between requests or inside a body. Each test ends with every slot, buffer
// and descriptor returned.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>

#include "proxy/http_forwarder.h"
#include "unit/harness/script.h"

namespace tlsterm::proxy {
namespace {

using runtime::op;

// The client connection as the forwarder sees it: what it was sent and
// told, and how much it has not yet sent on (set by the test).
class recorded_client final : public conn::client_side {
  public:
    explicit recorded_client(runtime::ring_owner& owner) : _owner(owner) {}
    void client_send(std::span<const uint8_t> plaintext) override {
        EXPECT_FALSE(ended()) << "bytes for a client after its end";
        sent.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
    }
    std::size_t client_backlog() const override { return backlog; }
    void client_finish(close_reason why) override { finished = why; }
    void client_abort(close_reason why) override { aborted = why; }
    void client_input_consumed() override { ++consumed; }
    void client_deadline(conn::request_deadline d) override { deadline = d; }
    void client_touch() override {}
    void client_end_write() override { write_shut = true; }
    bool client_write_shut() const override { return write_shut; }
    bool client_input_ended() const override { return input_ended; }
    runtime::ring_owner& client_owner() override { return _owner; }
    // HTTP mode never splices.
    int client_kernel_socket() const override { return -1; }
    void client_hand_over_receive() override { ADD_FAILURE() << "a forwarder spliced"; }
    bool client_receiving() const override { return false; }
    void client_splice_stopped(int) override { ADD_FAILURE() << "a forwarder spliced"; }
    void client_splicing_out(bool) override { ADD_FAILURE() << "a forwarder spliced"; }

    bool ended() const { return finished || aborted; }
    // The responses sent so far, taken.
    std::string take() { return std::exchange(sent, {}); }

    std::string sent;
    std::size_t backlog = 0;
    std::optional<close_reason> finished;
    std::optional<close_reason> aborted;
    int consumed = 0;
    conn::request_deadline deadline = conn::request_deadline::none;
    bool write_shut = false;
    bool input_ended = false;

  private:
    runtime::ring_owner& _owner;
};

// The slot the client connection would have (the forwarder submits
// nothing through it: its origin connections are the pool's).
class idle_owner final : public runtime::ring_owner {
  public:
    explicit idle_owner(runtime::uring& ring) : ring_owner(true, ring, 0, 0) {}
    void on_completion(op, int, uint32_t) override {
        ADD_FAILURE() << "a completion for the client";
    }
    bool finished() const override { return false; }
};

class ForwarderScript : public ::testing::Test {
  protected:
    ForwarderScript()
        : descriptors(test::script::open_descriptors()),
          admit(limits, 1),
          identities(16),
          env{sc.rt, admit, identities},
          owner(*sc.ring),
          client(owner) {
        limits.max_buffered_bytes = 4096;
        limits.header_timeout_ms = 1000;
        limits.body_timeout_ms = 1000;
        limits.body_min_rate = 0;
        gen.limits = &limits;
        lc.name = "web";
        lc.mode = listener_mode::http;
        lc.upstream = "origin";
        lc.http.buffer_request_bytes = 1024;
        uc.name = "origin";
        uc.addresses.push_back(*socket_address::parse("127.0.0.1:9"));
        uc.pool.max_connections = 4;
        uc.pool.response_timeout_ms = 2000;
        p = std::make_unique<upstream::pool>(sc.rt, uc, nullptr);
        routes.default_pool = p.get();
        listener.gen = &gen;
        listener.config = &lc;
        listener.upstream = &uc;
        listener.handlers = &routes;
        conn::client_facts facts;
        facts.peer = "192.0.2.1:5555";
        facts.peer_ip = "192.0.2.1";
        facts.server_name = "example.test";
        f = std::make_unique<http_forwarder>(client, routes, listener, env, input, facts);
    }
    ~ForwarderScript() override {
        f.reset();
        p->drain();
        sc.settle();
        EXPECT_EQ(p->objects(), 0u);
        p.reset();
        sc.expect_all_returned(descriptors);
    }

    // The client's bytes arrive (and its stream ends: `eof`), as the
    // connection hands them on after a completion.
    void client_says(std::string_view bytes, bool eof = false) {
        input.append(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
        client.input_ended = client.input_ended || eof;
        f->on_client_input();
        sc.later.run();
    }
    // The origin connection that is connecting (the newest), connected.
    runtime::ring_owner* connect_origin(int res = 0) {
        runtime::ring_owner* found = nullptr;
        for (const auto& s : sc.pending()) {
            if (s.op() == op::upstream_connect) {
                found = sc.slots.find(s.id);
            }
        }
        EXPECT_NE(found, nullptr) << "no origin connection is connecting";
        if (found != nullptr) {
            sc.connect(*found, res);
        }
        return found;
    }
    bool connecting() {
        for (const auto& s : sc.pending()) {
            if (s.op() == op::upstream_connect) {
                return true;
            }
        }
        return false;
    }
    std::string origin_gets(runtime::ring_owner* o) { return sc.send_all(*o, op::upstream_send); }
    void origin_says(runtime::ring_owner* o, std::string_view bytes) {
        ASSERT_TRUE(sc.receive(*o, op::upstream_recv, bytes));
    }
    void origin_ends(runtime::ring_owner* o, int res = 0) {
        ASSERT_TRUE(sc.receive_end(*o, op::upstream_recv, res));
    }

    test::script sc;
    std::size_t descriptors;
    limits_config limits;
    conn::admission admit;
    tls::identity_cache identities;
    conn::conn_env env;
    idle_owner owner;
    recorded_client client;
    conn::generation_view gen;
    listener_config lc;
    upstream_config uc;
    std::unique_ptr<upstream::pool> p;
    http_routes routes;
    conn::listener_runtime listener;
    byte_queue input;
    std::unique_ptr<http_forwarder> f;
};

constexpr std::string_view get = "GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";
constexpr std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
constexpr std::string_view ok_close =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";

bool answered(const std::string& s, std::string_view status = "200") {
    return s.starts_with("HTTP/1.1 " + std::string(status)) && s.ends_with("hi");
}

TEST_F(ForwarderScript, KeepAliveOriginServesEveryRequestOnOneConnection) {
    client_says(get);
    auto* o = connect_origin();
    std::string head = origin_gets(o);
    EXPECT_TRUE(head.starts_with("GET /a HTTP/1.1\r\n")) << head;
    EXPECT_NE(head.find("X-Forwarded-For: 192.0.2.1\r\n"), std::string::npos) << head;
    origin_says(o, ok);
    EXPECT_TRUE(answered(client.take())) << client.sent;
    for (int i = 0; i < 3; ++i) {
        client_says(get);
        EXPECT_FALSE(connecting());  // the same connection
        EXPECT_TRUE(origin_gets(o).starts_with("GET /a"));
        origin_says(o, ok);
        EXPECT_TRUE(answered(client.take()));
    }
    EXPECT_EQ(sc.counters.upstream_connects.load(), 1u);
    EXPECT_FALSE(client.ended());
}

// An origin that closes after each response: each request is served, on a
// new connection, and the client's connection stays open.
TEST_F(ForwarderScript, OriginClosingAfterEachResponseServesEveryRequest) {
    for (int i = 0; i < 4; ++i) {
        client_says(get);
        auto* o = connect_origin();
        EXPECT_TRUE(origin_gets(o).starts_with("GET /a"));
        origin_says(o, i % 2 == 0 ? ok_close : ok);  // with and without saying so
        origin_ends(o);
        sc.settle();
        std::string r = client.take();
        EXPECT_TRUE(answered(r)) << "request " << i << ": " << r;
        EXPECT_EQ(r.find("Connection: close"), std::string::npos) << r;
        EXPECT_FALSE(client.ended());
    }
    EXPECT_EQ(sc.counters.upstream_connects.load(), 4u);
}

// The origin closes a kept-alive connection as the next request goes out:
// that request is tried once more on a new connection.
TEST_F(ForwarderScript, ReusedConnectionClosedBeforeAnswerIsRetriedOnce) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, ok);
    client.take();
    client_says(get);
    EXPECT_TRUE(origin_gets(o).starts_with("GET /a"));
    origin_ends(o);  // closed without an answer
    auto* fresh = connect_origin();
    EXPECT_TRUE(origin_gets(fresh).starts_with("GET /a"));
    origin_says(fresh, ok);
    EXPECT_TRUE(answered(client.take()));

    client_says(get);  // and again: the retry is once per request, not once per connection
    EXPECT_TRUE(origin_gets(fresh).starts_with("GET /a"));
    origin_ends(fresh, -ECONNRESET);
    auto* third = connect_origin();
    origin_gets(third);
    origin_ends(third);  // a new connection closed before an answer: no second retry
    EXPECT_TRUE(client.take().starts_with("HTTP/1.1 502"));
    EXPECT_EQ(client.finished, close_reason::upstream_error);
}

// A response that ends with its connection: chunked to an HTTP/1.1
// client, whose connection goes on; the end of the connection to an
// HTTP/1.0 one.
TEST_F(ForwarderScript, ResponseDelimitedByEofIsReframedOrEndsTheClientConnection) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, "HTTP/1.0 200 OK\r\n\r\npart one, ");
    origin_says(o, "part two");
    origin_ends(o);
    std::string r = client.take();
    EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << r;
    EXPECT_TRUE(r.ends_with("a\r\npart one, \r\n8\r\npart two\r\n0\r\n\r\n")) << r;
    EXPECT_FALSE(client.ended());

    client_says("GET /b HTTP/1.0\r\nHost: example.test\r\n\r\n");
    auto* next = connect_origin();
    origin_gets(next);
    origin_says(next, "HTTP/1.0 200 OK\r\n\r\nall of it");
    EXPECT_FALSE(client.ended());
    origin_ends(next);
    r = client.take();
    EXPECT_TRUE(r.starts_with("HTTP/1.0 200 OK\r\n")) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
    EXPECT_TRUE(r.ends_with("\r\n\r\nall of it")) << r;
    EXPECT_EQ(client.finished, close_reason::done);
}

TEST_F(ForwarderScript, ChunkedResponseIsReframed) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    origin_says(o, "0\r\n\r\n");
    std::string r = client.take();
    EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << r;
    EXPECT_TRUE(r.ends_with("3\r\nabc\r\n0\r\n\r\n")) << r;
    client_says(get);
    EXPECT_TRUE(origin_gets(o).starts_with("GET"));  // reused after a chunked end
    origin_says(o, ok);
}

TEST_F(ForwarderScript, OriginResetInsideTheResponseBreaksTheClientStream) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    origin_ends(o, -ECONNRESET);
    EXPECT_EQ(client.aborted, close_reason::upstream_reset);
    EXPECT_FALSE(client.finished);
}

TEST_F(ForwarderScript, OriginEofInsideALengthDelimitedResponseBreaksTheClientStream) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    origin_ends(o);
    EXPECT_EQ(client.aborted, close_reason::upstream_reset);
}

TEST_F(ForwarderScript, RefusedOriginAnswers502AndFinishes) {
    client_says(get);
    connect_origin(-ECONNREFUSED);
    std::string r = client.take();
    EXPECT_TRUE(r.starts_with("HTTP/1.1 502 ")) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(client.finished, close_reason::upstream_error);
    EXPECT_EQ(sc.counters.http_upstream_errors.load(), 1u);
}

TEST_F(ForwarderScript, GarbageFromTheOriginAnswers502) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, "SMTP ready\r\n\r\n");
    EXPECT_TRUE(client.take().starts_with("HTTP/1.1 502 "));
    EXPECT_EQ(client.finished, close_reason::upstream_error);
}

TEST_F(ForwarderScript, SilentOriginAnswers504) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    sc.rt.now_ms += uc.pool.response_timeout_ms;
    p->tick();
    sc.later.run();
    EXPECT_TRUE(client.take().starts_with("HTTP/1.1 504 "));
    EXPECT_EQ(client.finished, close_reason::upstream_error);
}

TEST_F(ForwarderScript, PipelinedRequestsAreAnsweredInOrder) {
    client_says(std::string(get) + "GET /b HTTP/1.1\r\nHost: example.test\r\n\r\n");
    auto* o = connect_origin();
    std::string first = origin_gets(o);
    EXPECT_TRUE(first.starts_with("GET /a")) << first;
    EXPECT_EQ(first.find("GET /b"), std::string::npos) << "the second request went out early";
    origin_says(o, ok);
    EXPECT_TRUE(origin_gets(o).starts_with("GET /b"));
    origin_says(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    std::string r = client.take();
    EXPECT_EQ(r.find("HTTP/1.1 200"), 0u);
    EXPECT_NE(r.find("HTTP/1.1 200", 10), std::string::npos) << r;
}

TEST_F(ForwarderScript, SlowClientPausesTheOriginUntilItDrains) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    client.backlog = limits.max_buffered_bytes;  // the client reads no more
    origin_says(o, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    sc.settle();  // the origin's receive is cancelled
    EXPECT_FALSE(sc.has(*o, op::upstream_recv));
    f->on_client_drained();  // still behind: stays paused
    EXPECT_FALSE(sc.has(*o, op::upstream_recv));
    client.backlog = 0;
    f->on_client_drained();
    origin_says(o, "56789");
    EXPECT_TRUE(client.take().ends_with("0123456789"));
    client_says(get);  // the connection was reused, reading again
    EXPECT_TRUE(origin_gets(o).starts_with("GET"));
    origin_says(o, ok);
}

TEST_F(ForwarderScript, SlowOriginStopsTheUploadUntilItDrains) {
    client_says("POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    EXPECT_FALSE(connecting());  // buffering, up to buffer_request_bytes
    std::string chunk = "1000\r\n" + std::string(4096, 'x') + "\r\n";
    client_says(chunk + chunk + chunk + "0\r\n\r\n");
    auto* o = connect_origin();  // past the buffer: the rest streams
    EXPECT_GT(input.size(), 0u) << "the whole body was taken while the origin was behind";
    std::string got;
    for (int i = 0; i < 100 && sc.has(*o, op::upstream_send); ++i) {
        got += sc.send(*o, op::upstream_send);
        f->on_client_input();  // the connection reads on as input is consumed
        sc.later.run();
    }
    EXPECT_EQ(input.size(), 0u);
    std::string body = got.substr(got.find("\r\n\r\n"));
    EXPECT_EQ(std::count(body.begin(), body.end(), 'x'), 3 * 4096);
    EXPECT_TRUE(got.ends_with("0\r\n\r\n"));
    EXPECT_GT(client.consumed, 1);
    origin_says(o, ok);
    EXPECT_TRUE(answered(client.take()));
}

TEST_F(ForwarderScript, SmallBodyIsBufferedBeforeAConnectionIsTaken) {
    client_says("POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\n01234");
    EXPECT_FALSE(connecting());
    EXPECT_EQ(client.deadline, conn::request_deadline::body);
    client_says("56789");
    auto* o = connect_origin();
    EXPECT_TRUE(origin_gets(o).ends_with("\r\n\r\n0123456789"));
    origin_says(o, ok);
    EXPECT_TRUE(answered(client.take()));
}

// A chunked body likewise: parsed as it comes (its framing checked before
// any origin sees the request) until it ends or fills the buffer.
TEST_F(ForwarderScript, SmallChunkedBodyIsBufferedBeforeAConnectionIsTaken) {
    client_says(
        "POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    EXPECT_FALSE(connecting());
    EXPECT_EQ(client.deadline, conn::request_deadline::body);
    client_says("lo\r\n");
    EXPECT_FALSE(connecting());
    client_says("0\r\n\r\n");
    EXPECT_EQ(client.deadline, conn::request_deadline::none);
    auto* o = connect_origin();
    EXPECT_TRUE(origin_gets(o).ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    origin_says(o, ok);
    EXPECT_TRUE(answered(client.take()));
}

// Faulty chunked framing (data past its chunk's size, a size no body has)
// and Transfer-Encoding in HTTP/1.0 are answered 400 and the connection
// closed, without an origin (RFC 9112 sections 6.1 and 7.1), counted.
class ForwarderFraming : public ForwarderScript,
                         public ::testing::WithParamInterface<std::string_view> {};

TEST_P(ForwarderFraming, Answers400WithoutAnOrigin) {
    client_says(GetParam());
    std::string answer = client.take();
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 ")) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
    EXPECT_TRUE(client.finished.has_value());
    EXPECT_FALSE(connecting());
    EXPECT_EQ(sc.counters.http_client_errors.load(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Faulty, ForwarderFraming,
    ::testing::Values(
        "POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabcdef",
        "POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        "ffffffffffffffff\r\n",
        "POST /up HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));

// Of a body larger than buffer_request_bytes the first that many bytes are
// read before a connection is taken; the rest streams.
TEST_F(ForwarderScript, LargeBodyTakesAConnectionOnceItsBufferIsFull) {
    client_says("POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3000\r\n\r\n" +
                std::string(1000, 'a'));
    EXPECT_FALSE(connecting());
    EXPECT_EQ(client.deadline, conn::request_deadline::body);
    client_says(std::string(1000, 'b'));
    auto* o = connect_origin();
    client_says(std::string(1000, 'c'));
    std::string got = origin_gets(o);
    EXPECT_TRUE(
        got.ends_with(std::string(1000, 'a') + std::string(1000, 'b') + std::string(1000, 'c')))
        << got.size();
    origin_says(o, ok);
    EXPECT_TRUE(answered(client.take()));
}

TEST_F(ForwarderScript, SlowHeadAnswers408) {
    client_says("GET /a HTTP/1.1\r\nHost: exa");
    EXPECT_EQ(client.deadline, conn::request_deadline::head);
    f->on_request_timeout();
    EXPECT_TRUE(client.take().starts_with("HTTP/1.1 408 "));
    EXPECT_EQ(client.finished, close_reason::header_timeout);
    EXPECT_FALSE(connecting());
}

TEST_F(ForwarderScript, ClientLeavingBetweenRequestsEndsCleanly) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, ok);
    client_says("", true);
    EXPECT_EQ(client.finished, close_reason::done);
    EXPECT_FALSE(client.aborted);
}

TEST_F(ForwarderScript, ClientLeavingInsideABodyAbandonsTheOrigin) {
    client_says("POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5000\r\n\r\n" +
                std::string(2000, 'x'));  // past buffer_request_bytes: a connection is taken
    auto* o = connect_origin();
    origin_gets(o);
    client_says("", true);
    EXPECT_EQ(client.aborted, close_reason::client_reset);
    EXPECT_EQ(p->open_connections(), 0u);  // never reused after half a request
}

TEST_F(ForwarderScript, ClientGoneWhileWaitingForAConnection) {
    client_says(get);
    EXPECT_TRUE(connecting());
    f->on_client_closing(true);  // the connection closes under the request
    connect_origin();
    EXPECT_TRUE(client.sent.empty());
}

TEST_F(ForwarderScript, RetiredForwarderMakesTheNextResponseTheLast) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, ok);
    client.take();
    f->retire();
    EXPECT_FALSE(client.ended());  // an idle keep-alive wait is not cut
    client_says(get);
    origin_gets(o);
    origin_says(o, ok);
    EXPECT_NE(client.take().find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(client.finished, close_reason::done);
}

TEST_F(ForwarderScript, DrainBetweenRequestsFinishesAtOnce) {
    client_says(get);
    auto* o = connect_origin();
    origin_gets(o);
    origin_says(o, ok);
    f->drain();
    EXPECT_EQ(client.finished, close_reason::done);
}

}  // namespace
}  // namespace tlsterm::proxy
