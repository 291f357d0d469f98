// A client connection driven by scripted completions (tests/unit/harness)
// with a real wolfSSL client over memory on the other side and a recording
// stream handler above it: the handshake on both versions, the verified
// stream both ways, each way the connection ends (a ClientHello that is not
// one, a failed handshake, the handshake deadline, the client's
// close_notify, its FIN, its reset, the handler's finish and abort, HTTP
// lingering), backpressure toward the handler, and that the handler hears
// of a close only after the call that caused it. Each test ends with the
// slot, every buffer and the descriptor returned.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

#include "conn/connection.h"
#include "tls/client_auth.h"
#include "tls/server_context.h"
#include "unit/harness/script.h"
#include "unit/tls/memory_peer.h"

namespace tlsterm::conn {
namespace {

using runtime::op;

// What runs on the verified stream: takes what comes (unless told to hold
// it), answers through the client side when asked, and records what it is
// told.
class recording_handler final : public stream_handler {
  public:
    recording_handler(client_side& c, byte_queue& in) : client(c), input(in) {}
    void on_client_input() override {
        EXPECT_FALSE(inside) << "the connection called the handler inside its own call";
        if (take) {
            auto bytes = input.readable();
            got.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            input.consume(bytes.size());
            client.client_input_consumed();
        }
        input_ended = client.client_input_ended();
    }
    void on_client_drained() override { ++drained; }
    void on_client_closing(bool reset) override {
        EXPECT_FALSE(inside) << "the handler heard of a close inside its own call";
        closing = reset ? "reset" : "closed";
    }
    void drain() override { ++drains; }
    void retire() override {}
    void on_request_timeout() override { ++timeouts; }

    // A call the handler makes into the client side.
    template <typename F>
    void act(F&& f) {
        inside = true;
        f(client);
        inside = false;
    }

    client_side& client;
    byte_queue& input;
    bool take = true;
    bool inside = false;
    bool input_ended = false;
    std::string got;
    std::string closing;  // "", "closed" or "reset"
    int drained = 0;
    int drains = 0;
    int timeouts = 0;
};

class recording_factory final : public handler_factory {
  public:
    std::unique_ptr<stream_handler> make(client_side& client, listener_runtime&, conn_env&,
                                         byte_queue& input, client_facts facts) override {
        auto h = std::make_unique<recording_handler>(client, input);
        made = h.get();
        peer = facts.peer;
        return h;
    }
    recording_handler* made = nullptr;
    std::string peer;
};

class ConnectionScript : public ::testing::Test {
  protected:
    ConnectionScript()
        : descriptors(test::script::open_descriptors()),
          cfg(test::one_listener_config()),
          admit(limits, 1),
          identities(16),
          env{sc.rt, admit, identities},
          handshake_timers(limits.handshake_timeout_ms),
          idle_timers(limits.idle_timeout_ms),
          header_timers(limits.header_timeout_ms),
          body_timers(limits.body_timeout_ms),
          linger_timers(limits.lingering_close_ms) {
        limits.max_buffered_bytes = 8192;
        auto anchors = tls::load_trust_anchors(*cfg);
        EXPECT_TRUE(anchors) << anchors.error();
        auto ctx =
            tls::server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls, *anchors);
        EXPECT_TRUE(ctx) << ctx.error();
        tls_ctx = std::move(*ctx);
        gen.limits = &limits;
        gen.handshake_timers = &handshake_timers;
        gen.idle_timers = &idle_timers;
        gen.header_timers = &header_timers;
        gen.body_timers = &body_timers;
        gen.linger_timers = &linger_timers;
        lc = cfg->listeners[0];
    }
    ~ConnectionScript() override {
        if (c != nullptr && sc.slots.used() > 0) {
            c->close(close_reason::done);
        }
        sc.settle();
        sc.expect_all_returned(descriptors);
    }

    void accept(listener_mode mode = listener_mode::tcp) {
        lc.mode = mode;
        auto l = std::make_shared<listener_runtime>();
        l->gen = &gen;
        l->config = &lc;
        l->upstream = &cfg->upstreams[0];
        l->tls = tls_ctx.get();
        l->handlers = &factory;
        sockaddr_in6 peer{};
        peer.sin6_family = AF_INET6;
        peer.sin6_port = htons(40000);
        c = sc.slots.emplace<connection>([&](uint32_t slot, uint32_t generation) {
            return std::make_unique<connection>(env, std::move(l), slot, generation,
                                                ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                                                peer, address_key{});
        });
        c->start();
    }
    bool open() { return sc.slots.used() > 0; }
    // What the client wrote reaches the connection, one completion per
    // provided buffer.
    void client_to_server(test::memory_client& tc) {
        auto bytes = tc.out().readable();
        std::string all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        tc.out().clear();
        for (std::size_t at = 0; at < all.size() && open(); at += 4096) {
            ASSERT_TRUE(sc.receive(*c, op::client_recv, std::string_view(all).substr(at, 4096)));
        }
    }
    // What the connection sent reaches the client.
    std::string server_to_client(test::memory_client& tc) {
        std::string s = open() ? sc.send_all(*c, op::client_send) : std::string();
        tc.in().append(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
        return s;
    }
    // Both ends of the handshake complete.
    bool handshake(test::memory_client& tc) {
        const uint64_t before = sc.counters.handshakes.load();
        for (int i = 0; i < 20 && open(); ++i) {
            int r = tc.connect();
            client_to_server(tc);
            server_to_client(tc);
            if (r < 0) {
                return false;
            }
            if (tc.connected() && sc.counters.handshakes.load() > before) {
                return true;
            }
        }
        return false;
    }
    // The shard's tick over this generation's deadlines.
    void tick() {
        while (auto* t = handshake_timers.expired(sc.rt.now_ms)) {
            t->owner().close(close_reason::handshake_timeout);
        }
        while (auto* t = idle_timers.expired(sc.rt.now_ms)) {
            t->owner().close(close_reason::idle_timeout);
        }
        while (auto* t = linger_timers.expired(sc.rt.now_ms)) {
            t->owner().end_lingering();
        }
        sc.later.run();
    }
    uint64_t closed(close_reason r) const {
        return sc.counters.closed[static_cast<std::size_t>(r)].load();
    }
    static bool got_close_notify(test::memory_client& tc) {
        tc.read_all();
        return (wolfSSL_get_shutdown(tc.ssl()) & WOLFSSL_RECEIVED_SHUTDOWN) != 0;
    }

    test::script sc;
    std::size_t descriptors;
    std::shared_ptr<const config> cfg;
    limits_config limits;
    admission admit;
    tls::identity_cache identities;
    conn_env env;
    deadlines handshake_timers, idle_timers, header_timers, body_timers, linger_timers;
    generation_view gen;
    listener_config lc;
    std::unique_ptr<tls::server_context> tls_ctx;
    recording_factory factory;
    connection* c = nullptr;
};

class ConnectionScriptVersions : public ConnectionScript,
                                 public ::testing::WithParamInterface<int> {};

TEST_P(ConnectionScriptVersions, HandshakeThenTheVerifiedStreamBothWays) {
    accept();
    test::client_options o;
    o.max_version = GetParam();
    test::memory_client tc(o);
    ASSERT_TRUE(handshake(tc));
    EXPECT_EQ(sc.counters.handshakes.load(), 1u);
    auto* h = factory.made;
    tc.write("hello over TLS");
    client_to_server(tc);
    EXPECT_EQ(h->got, "hello over TLS");
    h->act([](client_side& cs) {
        cs.client_send(std::span(reinterpret_cast<const uint8_t*>("back"), 4));
    });
    server_to_client(tc);
    EXPECT_EQ(tc.read_all(), "back");
    EXPECT_GE(h->drained, 1);

    // The client's close_notify: the handler sees the end, finishes, and
    // the client gets close_notify back.
    wolfSSL_shutdown(tc.ssl());
    client_to_server(tc);
    EXPECT_TRUE(h->input_ended);
    h->act([](client_side& cs) { cs.client_finish(close_reason::done); });
    EXPECT_EQ(h->closing, "");  // not inside the call...
    sc.later.run();
    EXPECT_EQ(h->closing, "closed");  // ...but after it, from the deferred queue
    server_to_client(tc);
    EXPECT_TRUE(got_close_notify(tc));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::done), 1u);
}

INSTANTIATE_TEST_SUITE_P(Versions, ConnectionScriptVersions, ::testing::Values(0, TLS1_2_VERSION),
                         [](const auto& p) { return p.param == 0 ? "tls13" : "tls12"; });

TEST_F(ConnectionScript, NotAClientHelloGetsAnAlertAndTheSocketCloses) {
    accept();
    ASSERT_TRUE(sc.receive(*c, op::client_recv, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto alert = sc.find(*c, op::client_send);
    ASSERT_EQ(alert.size(), 1u);
    EXPECT_EQ(alert.front().bytes().substr(0, 1), "\x15");  // an alert record
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(factory.made, nullptr);
    EXPECT_EQ(closed(close_reason::not_tls), 1u);
}

TEST_F(ConnectionScript, FailedHandshakeSendsItsAlertAndNoHandlerIsMade) {
    accept();
    test::client_options o;
    o.ciphers = "TLS13-AES128-GCM-SHA256";
    test::memory_client tc(o);
    tc.connect();
    // The client's hello, then garbage where its Finished should be.
    client_to_server(tc);
    server_to_client(tc);
    ASSERT_TRUE(open());
    ASSERT_TRUE(sc.receive(*c, op::client_recv, std::string("\x17\x03\x03\x00\x05hello", 10)));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(factory.made, nullptr);
    EXPECT_EQ(closed(close_reason::handshake_failed), 1u);
}

TEST_F(ConnectionScript, ClientLeavingDuringTheHandshake) {
    accept();
    test::memory_client tc(test::client_options{});
    tc.connect();
    client_to_server(tc);
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, 0));
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, HandshakeDeadline) {
    accept();
    ASSERT_TRUE(sc.receive(*c, op::client_recv, std::string("\x16\x03\x01", 3)));  // then nothing
    sc.rt.now_ms += limits.handshake_timeout_ms;
    tick();
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::handshake_timeout), 1u);
}

TEST_F(ConnectionScript, ClientResetIsHeardAsAReset) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -ECONNRESET));
    EXPECT_EQ(h->closing, "reset");
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::client_reset), 1u);
}

TEST_F(ConnectionScript, ClientFinWithoutCloseNotifyEndsTheInput) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    tc.write("last");
    client_to_server(tc);
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, 0));
    EXPECT_EQ(h->got, "last");
    EXPECT_TRUE(h->input_ended);
    EXPECT_EQ(h->closing, "");  // the handler decides when to end
    h->act([](client_side& cs) { cs.client_finish(close_reason::done); });
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, HandlerAbortResetsWithoutCloseNotify) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    int fd = -1;
    for (const auto& s : sc.pending()) {
        if (s.op() == op::client_recv) {
            fd = s.fd;
        }
    }
    h->act([](client_side& cs) { cs.client_abort(close_reason::upstream_reset); });
    sc.later.run();
    EXPECT_EQ(h->closing, "closed");
    EXPECT_FALSE(sc.has(*c, op::client_send)) << "a reset says nothing first";
    linger l{};
    socklen_t len = sizeof(l);
    ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
    EXPECT_EQ(l.l_onoff, 1);
    EXPECT_EQ(l.l_linger, 0);
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, FinishWaitsForTheBacklog) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    std::string big(20000, 'b');
    h->act([&](client_side& cs) {
        cs.client_send(std::span(reinterpret_cast<const uint8_t*>(big.data()), big.size()));
        cs.client_finish(close_reason::done);
    });
    EXPECT_EQ(h->closing, "");                              // the response is still going out
    std::string wire = sc.send(*c, op::client_send, 1000);  // a short send first
    wire += sc.send_all(*c, op::client_send);
    tc.in().append(std::span(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
    EXPECT_EQ(tc.read_all(), big);
    EXPECT_EQ(h->closing, "closed");
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, UnreadInputPausesTheClientUntilConsumed) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    h->take = false;  // the handler's upstream is behind
    std::string chunk(4000, 'u');
    for (int i = 0; i < 3; ++i) {
        tc.write(chunk);
    }
    client_to_server(tc);
    sc.settle();  // the pause's cancel
    EXPECT_FALSE(sc.has(*c, op::client_recv)) << "still reading past max_buffered_bytes";
    h->take = true;
    h->on_client_input();  // the handler catches up
    sc.later.run();
    EXPECT_TRUE(sc.has(*c, op::client_recv)) << "not reading again after the input was consumed";
    EXPECT_EQ(h->got.size(), 3 * chunk.size());
}

TEST_F(ConnectionScript, HttpFinishLingersThenClosesOnTheClientsEnd) {
    accept(listener_mode::http);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    EXPECT_EQ(factory.made, nullptr) << "an HTTP connection with no request holds no handler";
    tc.write("GET / HTTP/1.1\r\n");
    client_to_server(tc);
    auto* h = factory.made;
    ASSERT_NE(h, nullptr);
    h->act([](client_side& cs) {
        const std::string_view r = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
        cs.client_send(std::span(reinterpret_cast<const uint8_t*>(r.data()), r.size()));
        cs.client_finish(close_reason::bad_request);
    });
    server_to_client(tc);
    EXPECT_TRUE(got_close_notify(tc));
    EXPECT_TRUE(open()) << "closed under a client that may still be sending";
    bool fin = false;
    for (const auto& s : sc.pending()) {
        fin = fin || s.opcode == IORING_OP_SHUTDOWN;
    }
    EXPECT_TRUE(fin);
    tc.write("more of the request, dropped");
    client_to_server(tc);
    EXPECT_TRUE(open());
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, 0));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::bad_request), 1u);
}

TEST_F(ConnectionScript, LingeringEndsAtItsDeadline) {
    accept(listener_mode::http);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    tc.write("G");
    client_to_server(tc);
    factory.made->act([](client_side& cs) { cs.client_finish(close_reason::done); });
    server_to_client(tc);
    sc.rt.now_ms += limits.lingering_close_ms;
    tick();
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, HttpDrainWithoutARequestFinishes) {
    accept(listener_mode::http);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    c->drain();
    sc.later.run();
    server_to_client(tc);
    EXPECT_TRUE(got_close_notify(tc));
}

TEST_F(ConnectionScript, MalformedHelloGetsItsAlert) {
    accept();
    // A handshake record that holds a ServerHello.
    ASSERT_TRUE(
        sc.receive(*c, op::client_recv, std::string("\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9)));
    auto alert = sc.find(*c, op::client_send);
    ASSERT_EQ(alert.size(), 1u);
    EXPECT_EQ(alert.front().bytes().substr(0, 1), "\x15");
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::bad_client_hello), 1u);
}

TEST_F(ConnectionScript, CorruptRecordAfterTheHandshakeIsATlsError) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    std::string record("\x17\x03\x03\x00\x20", 5);
    record.append(32, '\x5a');
    ASSERT_TRUE(sc.receive(*c, op::client_recv, record));
    EXPECT_EQ(h->closing, "closed");
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
    server_to_client(tc);
    EXPECT_FALSE(got_close_notify(tc)) << "a broken stream must not look complete";
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, IdleDeadlineClosesAndRestartsWithTraffic) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    sc.rt.now_ms += limits.idle_timeout_ms - 1;
    tc.write("keepalive");
    client_to_server(tc);  // traffic: the deadline starts again
    sc.rt.now_ms += limits.idle_timeout_ms - 1;
    tick();
    EXPECT_TRUE(open());
    sc.rt.now_ms += 1;
    tick();
    EXPECT_EQ(factory.made->closing, "closed");
    EXPECT_EQ(closed(close_reason::idle_timeout), 1u);
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, SendErrorIsHeardAsAReset) {
    accept();
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    h->act([](client_side& cs) {
        cs.client_send(std::span(reinterpret_cast<const uint8_t*>("lost"), 4));
    });
    sc.complete(*sc.one(*c, op::client_send), -EPIPE);
    EXPECT_EQ(h->closing, "reset");
    EXPECT_EQ(closed(close_reason::client_reset), 1u);
    sc.settle();
    EXPECT_FALSE(open());
}

TEST_F(ConnectionScript, ResetWhileLingeringCountsTheFinish) {
    accept(listener_mode::http);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    tc.write("G");
    client_to_server(tc);
    factory.made->act([](client_side& cs) { cs.client_finish(close_reason::bad_request); });
    server_to_client(tc);
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -ECONNRESET));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::bad_request), 1u);
    EXPECT_EQ(closed(close_reason::client_reset), 0u);
}

}  // namespace
}  // namespace tlsterm::conn
