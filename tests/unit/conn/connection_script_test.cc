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
#include <poll.h>
#include <sys/socket.h>

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "conn/connection.h"
#include "proxy/tcp_pipe.h"
#include "tls/client_auth.h"
#include "tls/server_context.h"
#include "transport/kernel_records.h"
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

    void accept(listener_mode mode = listener_mode::tcp, bool kernel_records = false) {
        lc.mode = mode;
        // One listener for every connection of a test, as a shard has.
        auto l = listener ? listener : std::make_shared<listener_runtime>();
        listener = l;
        l->kernel_records = kernel_records;
        l->gen = &gen;
        l->config = &lc;
        l->upstream = &cfg->upstreams[0];
        l->tls = tls_ctx.get();
        l->handlers = handlers;
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

    // The kernel's part of kTLS, recorded: the ULP attached, each key
    // installed (or refused when told to).
    struct installed_keys {
        bool tx = false;
        transport::kernel_cipher cipher{};
        bool tls13 = false;
        std::size_t key_size = 0;
        uint64_t sequence = 0;
    };
    struct fake_kernel {
        int attached = 0;
        bool refuse_attach = false;
        bool refuse_rx = false;
        std::vector<installed_keys> installed;
    };
    void use_fake_kernel() {
        env.kernel_tls.attach = [this](int) -> std::expected<void, std::string> {
            ++kernel.attached;
            if (kernel.refuse_attach) {
                return std::unexpected("no \"tls\" ULP (test)");
            }
            return {};
        };
        env.kernel_tls.install =
            [this](int, bool tx,
                   const transport::kernel_keys& k) -> std::expected<void, std::string> {
            if (!tx && kernel.refuse_rx) {
                return std::unexpected("TLS_RX refused (test)");
            }
            kernel.installed.push_back({tx, k.cipher, k.tls13, k.key.size(), k.sequence});
            return {};
        };
    }
    // After a handshake on a kernel-records listener: the cancel of the
    // receive completes, then the receive itself.
    void end_the_receive() {
        for (const auto& cancel : sc.find(*c, op::socket_end)) {
            sc.complete(cancel, 0);
        }
        ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -ECANCELED));
    }
    // A handshake, then the switch with nothing else in flight.
    void handshake_to_kernel(test::memory_client& tc) {
        ASSERT_TRUE(handshake(tc));
        ASSERT_EQ(kernel.attached, 1);
        end_the_receive();
        ASSERT_EQ(kernel.installed.size(), 2u);
        ASSERT_EQ(sc.one(*c, op::client_recv)->opcode, IORING_OP_RECVMSG);
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
    handler_factory* handlers = &factory;
    connection* c = nullptr;
    fake_kernel kernel;
    std::shared_ptr<listener_runtime> listener;
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

// ---- kernel records (kTLS), with the kernel's calls recorded ----------------------

// The size of the TLS record that starts `bytes`.
std::size_t record_size(std::span<const uint8_t> bytes) {
    return 5 + (std::size_t{bytes[3]} << 8 | bytes[4]);
}

// The client writes two records right after the handshake; the first and
// part of the second arrive before the receive's cancel completes. wolfSSL
// decrypts the first; the rest of the second is read exactly (not a byte
// more), decrypted by wolfSSL too; then TX and RX go to the kernel with
// the sequence numbers after them, what the handler sent meanwhile goes
// out as plaintext for the kernel, and every receive is a recvmsg: data,
// then close_notify, which ends the handler's input; the finish sends
// close_notify as an alert record.
TEST_P(ConnectionScriptVersions, RecordsGoToTheKernelAtARecordBoundary) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::client_options o;
    o.max_version = GetParam();
    test::memory_client tc(o);
    ASSERT_TRUE(handshake(tc));
    auto* h = factory.made;
    EXPECT_EQ(kernel.attached, 1);
    EXPECT_TRUE(kernel.installed.empty());

    tc.write(std::string(5000, 'a'));
    tc.write(std::string(3000, 'b'));
    std::vector<uint8_t> wire(tc.out().readable().begin(), tc.out().readable().end());
    std::string all(wire.begin(), wire.end());
    tc.out().clear();
    const std::size_t first = record_size(wire);
    const std::size_t second = record_size(std::span(wire).subspan(first));
    ASSERT_EQ(first + second, all.size());
    const std::size_t cut = first + 100;
    for (std::size_t at = 0; at < cut; at += 4096) {  // one provided buffer each
        ASSERT_TRUE(
            sc.receive(*c, op::client_recv,
                       std::string_view(all).substr(at, std::min<std::size_t>(4096, cut - at))));
    }
    EXPECT_EQ(h->got, std::string(5000, 'a'));
    h->act([](client_side& cs) {
        cs.client_send(std::span(reinterpret_cast<const uint8_t*>("held"), 4));
    });
    EXPECT_FALSE(sc.has(*c, op::client_send));  // held during the switch
    EXPECT_EQ(h->client.client_backlog(), 4u);

    end_the_receive();
    auto exact = sc.one(*c, op::client_recv);
    ASSERT_TRUE(exact);
    EXPECT_EQ(exact->opcode, IORING_OP_RECV);
    EXPECT_FALSE(exact->multishot());
    EXPECT_EQ(exact->len, first + second - cut);
    EXPECT_TRUE(kernel.installed.empty());
    ASSERT_TRUE(sc.receive(*c, op::client_recv, std::string_view(all).substr(cut)));
    EXPECT_EQ(h->got, std::string(5000, 'a') + std::string(3000, 'b'));

    ASSERT_EQ(kernel.installed.size(), 2u);
    EXPECT_TRUE(kernel.installed[0].tx);  // TX first, then RX
    EXPECT_FALSE(kernel.installed[1].tx);
    const bool tls13 = GetParam() == 0;
    for (const auto& k : kernel.installed) {
        EXPECT_EQ(k.tls13, tls13);
        EXPECT_EQ(k.cipher, transport::kernel_cipher::aes_128_gcm);
        EXPECT_EQ(k.key_size, 16u);
    }
    // TLS 1.3: the server's application records so far are its tickets
    // (one per record), the client's the two above. TLS 1.2: each side's
    // Finished was its record 0.
    EXPECT_EQ(kernel.installed[0].sequence, tls13 ? sc.counters.tickets_issued.load() : 1u);
    EXPECT_EQ(kernel.installed[1].sequence, tls13 ? 2u : 3u);
    EXPECT_EQ(sc.counters.ktls_connections.load(), 1u);

    EXPECT_EQ(sc.send_all(*c, op::client_send), "held");  // plaintext: the kernel encrypts
    auto r = sc.one(*c, op::client_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->opcode, IORING_OP_RECVMSG);
    ASSERT_TRUE(
        sc.receive_record(*c, op::client_recv, transport::record_application_data, "after"));
    EXPECT_EQ(h->got.substr(8000), "after");
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_alert,
                                  std::string("\x01\x00", 2)));
    EXPECT_TRUE(h->input_ended);
    EXPECT_FALSE(sc.has(*c, op::client_recv));  // nothing is read after close_notify

    h->act([](client_side& cs) { cs.client_finish(close_reason::done); });
    auto bye = sc.one(*c, op::client_send);
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->record_type(), transport::record_alert);
    EXPECT_EQ(bye->bytes(), std::string("\x01\x00", 2));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::done), 1u);
}

TEST_F(ConnectionScript, KernelRecordsKeyUpdateClosesCleanlyAndIsCounted) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    auto* h = factory.made;
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "x"));
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_handshake,
                                  std::string("\x18\x00\x00\x01\x01", 5)));
    EXPECT_EQ(h->got, "x");  // what came before it was delivered
    auto bye = sc.one(*c, op::client_send);
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->bytes(), std::string("\x01\x00", 2));  // close_notify: a clean end
    sc.later.run();
    EXPECT_EQ(h->closing, "closed");
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::ktls_key_update), 1u);
}

// On TLS 1.2 a ClientHello from the client asks to renegotiate: the kernel
// hands it over as a handshake record, tlsterm answers with a warning
// no_renegotiation (RFC 5246 7.4.1.2, 5746 4.4) and the connection goes on;
// on TLS 1.3 it is out of place (unexpected_message).
TEST_F(ConnectionScript, KernelRecordsRenegotiationGetsAWarningAndGoesOn) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{.max_version = TLS1_2_VERSION});
    handshake_to_kernel(tc);
    auto* h = factory.made;
    const std::string hello("\x01\x00\x00\x04\x03\x03\x00\x00", 8);
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_handshake, hello));
    auto warning = sc.one(*c, op::client_send);
    ASSERT_TRUE(warning);
    EXPECT_EQ(warning->record_type(), transport::record_alert);
    EXPECT_EQ(warning->bytes(), std::string("\x01\x64", 2));
    sc.complete(*warning, 2);
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "x"));
    EXPECT_EQ(h->got, "x");
    EXPECT_TRUE(open());
}

TEST_F(ConnectionScript, KernelRecordsClientHelloOnTls13IsUnexpected) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    const std::string hello("\x01\x00\x00\x04\x03\x03\x00\x00", 8);
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_handshake, hello));
    auto alert = sc.one(*c, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->bytes(), std::string("\x02\x0a", 2));  // fatal unexpected_message
    sc.complete(*alert, 2);
    sc.later.run();
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
}

// Kernel records are received edge-triggered: a receive that finds no
// whole record (-EAGAIN: the socket holds half of one) waits for the next
// wakeup of the socket's poll instead of going again, so a record stalled
// half sent costs nothing and holds no io-wq worker; after bytes the next
// receive goes at once.
TEST_F(ConnectionScript, KernelRecordsReceivesWaitForAWakeup) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    auto* h = factory.made;
    EXPECT_EQ(sc.find(*c, op::client_ready).size(), 1u);  // the socket's poll
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -EAGAIN));
    EXPECT_FALSE(sc.has(*c, op::client_recv));
    ASSERT_TRUE(sc.readable(*c, op::client_ready));
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "a"));
    EXPECT_TRUE(sc.has(*c, op::client_recv));  // more may wait: at once
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "b"));
    EXPECT_EQ(h->got, "ab");
    EXPECT_EQ(sc.find(*c, op::client_ready).size(), 1u);  // one poll all along
}

TEST_F(ConnectionScript, KernelRecordsRefusedRecordGetsItsAlert) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -EBADMSG));
    auto alert = sc.one(*c, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->record_type(), transport::record_alert);
    EXPECT_EQ(alert->bytes(), std::string("\x02\x14", 2));  // fatal bad_record_mac
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
}

TEST_F(ConnectionScript, KernelRecordsControlRecordsNeverReachTheHandler) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    auto* h = factory.made;
    // A ticket from a client is refused (unexpected_message), not data.
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_handshake,
                                  std::string("\x04\x00\x00\x00", 4)));
    EXPECT_EQ(h->got, "");
    auto alert = sc.one(*c, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->bytes(), std::string("\x02\x0a", 2));
    sc.settle();
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
}

TEST_F(ConnectionScript, KernelRecordsClientFinEndsTheInput) {
    use_fake_kernel();
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    handshake_to_kernel(tc);
    auto* h = factory.made;
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "end"));
    ASSERT_TRUE(sc.receive_end(*c, op::client_recv, 0));
    EXPECT_EQ(h->got, "end");
    EXPECT_TRUE(h->input_ended);
    h->act([](client_side& cs) { cs.client_finish(close_reason::done); });
    sc.settle();
    EXPECT_FALSE(open());
}

// A kernel that will not take the socket leaves the connection with
// wolfSSL, counted; nothing is lost.
TEST_F(ConnectionScript, KernelRecordsRefusedLeaveTheConnectionInUserspace) {
    use_fake_kernel();
    kernel.refuse_attach = true;
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    EXPECT_EQ(sc.counters.ktls_fallbacks.load(), 1u);
    EXPECT_EQ(sc.counters.ktls_connections.load(), 0u);
    tc.write("still wolfSSL");
    client_to_server(tc);
    EXPECT_EQ(factory.made->got, "still wolfSSL");
}

// RX refused after TX was installed: no way back, the connection closes.
TEST_F(ConnectionScript, KernelRecordsReceiveKeysRefusedCloses) {
    use_fake_kernel();
    kernel.refuse_rx = true;
    accept(listener_mode::tcp, true);
    test::memory_client tc(test::client_options{});
    ASSERT_TRUE(handshake(tc));
    end_the_receive();
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
}

// An idle HTTP-mode connection on kernel records keeps no WOLFSSL: what
// it holds on the heap (the connection, its stream's message headers, the
// client facts for the forwarder to come, its slot) stays under 1 KiB.
TEST_F(ConnectionScript, KernelRecordsIdleConnectionHoldsUnderOneKibibyte) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "ASan's allocator keeps its own books: measured in the release build";
#else
    use_fake_kernel();
    constexpr int n = 256;
    std::vector<connection*> all;
    all.reserve(2 * n);  // its growth is not the connections'
    // One first: the slot table and the pools of the allocator grow.
    for (int warm = 0; warm < 2; ++warm) {
        const std::size_t before = mallinfo2().uordblks;
        for (int i = 0; i < n; ++i) {
            accept(listener_mode::http, true);
            {
                test::memory_client tc(test::client_options{});
                kernel.attached = 0;
                kernel.installed.clear();
                handshake_to_kernel(tc);
            }
            all.push_back(c);
        }
        const std::size_t after = mallinfo2().uordblks;
        const double each = static_cast<double>(after - before) / n;
        if (warm == 1) {
            std::cout << "[ memory   ] an idle HTTP connection on kernel records: " << each
                      << " bytes of heap (sizeof(connection) " << sizeof(connection) << ")\n";
            EXPECT_LT(each, 1024.0);
        }
    }
    EXPECT_EQ(factory.made, nullptr);  // no forwarder on an idle connection
    for (connection* x : all) {
        x->close(close_reason::done);
    }
    c = nullptr;
    sc.settle();
#endif
}

// ---- splicing (tcp mode: tlsterm's own pipe on kernel records) ---------------

class SpliceScript : public ConnectionScript {
  protected:
    // A tcp listener whose records go to the kernel and whose pipe splices;
    // the handshake, the upstream connected, the records handed over, and
    // the last receives of both streams ended (cancelled).
    void splice_ready(test::memory_client& tc) {
        use_fake_kernel();
        handlers = &pipes;
        accept(listener_mode::tcp, true);
        listener->splice = true;
        ASSERT_TRUE(handshake(tc));
        sc.connect(*c, 0);
        end_the_receive();
        ASSERT_EQ(kernel.installed.size(), 2u);
    }
    // The cancels of the streams' receives complete; then the receives
    // (unless the test completes them itself).
    void complete_cancels() {
        for (const auto& s : sc.find(*c, op::socket_end)) {
            if (s.opcode == IORING_OP_ASYNC_CANCEL) {
                sc.complete(s, 0);
            }
        }
    }
    void end_receives() {
        complete_cancels();
        ASSERT_TRUE(sc.receive_end(*c, op::client_recv, -ECANCELED));
        ASSERT_TRUE(sc.receive_end(*c, op::upstream_recv, -ECANCELED));
    }
    bool pending(op kind) { return sc.has(*c, kind); }
    // The source of a direction reports itself readable (its poll).
    void readable(op kind) { ASSERT_TRUE(sc.readable(*c, kind)); }
    // The pending shutdown of socket `fd`.
    bool shutdown_of(int fd) {
        return std::ranges::any_of(sc.find(*c, op::socket_end), [&](const test::submission& s) {
            return s.opcode == IORING_OP_SHUTDOWN && s.fd == fd;
        });
    }

    proxy::pipe_factory pipes;
};

// Both directions splice once the records are in the kernel; a record the
// kernel cannot splice (close_notify) is read by the connection and ends
// the client's direction after every spliced byte; the upstream's FIN ends
// the other with close_notify.
TEST_F(SpliceScript, BothDirectionsSpliceAndEndInOrder) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    EXPECT_FALSE(pending(op::to_upstream_fill));  // the client's receive is still in flight
    end_receives();
    EXPECT_EQ(sc.counters.splice_connections.load(), 1u);
    EXPECT_FALSE(pending(op::client_recv));  // the splice reads the socket
    EXPECT_FALSE(pending(op::upstream_recv));
    EXPECT_FALSE(pending(op::to_upstream_fill));  // until the client's socket is readable
    readable(op::to_upstream_ready);
    auto fill = sc.one(*c, op::to_upstream_fill);
    ASSERT_TRUE(fill);
    EXPECT_EQ(fill->opcode, IORING_OP_SPLICE);
    const int client_fd = fill->splice_fd_in;
    EXPECT_EQ(fill->len, 65536u);  // the pipe's room
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, 1000));
    auto drain = sc.one(*c, op::to_upstream_drain);
    ASSERT_TRUE(drain);
    const int upstream_fd = drain->fd;
    EXPECT_NE(upstream_fd, client_fd);
    EXPECT_EQ(drain->len, 1000u);
    EXPECT_EQ(sc.one(*c, op::to_upstream_fill)->len, 65536u - 1000u);  // filling goes on
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_drain, 600));
    EXPECT_EQ(sc.one(*c, op::to_upstream_drain)->len, 400u);  // the rest
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_drain, 400));
    EXPECT_FALSE(pending(op::to_upstream_drain));
    EXPECT_EQ(sc.counters.bytes_from_client.load(), 1000u);

    readable(op::to_client_ready);
    auto down = sc.one(*c, op::to_client_fill);
    ASSERT_TRUE(down);
    EXPECT_EQ(down->splice_fd_in, upstream_fd);
    ASSERT_TRUE(sc.splice(*c, op::to_client_fill, 5000));
    EXPECT_EQ(sc.one(*c, op::to_client_drain)->fd, client_fd);
    ASSERT_TRUE(sc.splice(*c, op::to_client_drain, 5000));
    EXPECT_EQ(sc.counters.bytes_from_upstream.load(), 5000u);

    // Bytes in the pipe, then close_notify: the upstream gets its FIN only
    // once they are out.
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, 300));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, -EINVAL));
    auto record = sc.one(*c, op::client_recv);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->opcode, IORING_OP_RECVMSG);
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_alert,
                                  std::string("\x01\x00", 2)));
    EXPECT_FALSE(pending(op::to_upstream_fill));  // nothing is read after close_notify
    readable(op::to_upstream_ready);
    EXPECT_FALSE(pending(op::to_upstream_fill));
    EXPECT_FALSE(pending(op::client_recv));
    EXPECT_FALSE(shutdown_of(upstream_fd));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_drain, 300));
    EXPECT_TRUE(shutdown_of(upstream_fd));

    // The upstream's FIN after bytes: close_notify once they are out.
    ASSERT_TRUE(sc.splice(*c, op::to_client_fill, 70));
    ASSERT_TRUE(sc.splice(*c, op::to_client_fill, 0));
    EXPECT_FALSE(pending(op::client_send));
    ASSERT_TRUE(sc.splice(*c, op::to_client_drain, 70));
    auto bye = sc.one(*c, op::client_send);
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->record_type(), transport::record_alert);
    EXPECT_EQ(bye->bytes(), std::string("\x01\x00", 2));
    sc.send(*c, op::client_send);
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::done), 1u);
}

// What went the userspace way before the switch is out before a byte is
// spliced after it, each direction on its own.
TEST_F(SpliceScript, UserspaceBytesGoFirst) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    complete_cancels();
    ASSERT_TRUE(
        sc.receive_record(*c, op::client_recv, transport::record_application_data, "early"));
    EXPECT_FALSE(pending(op::to_upstream_ready));
    EXPECT_EQ(sc.send(*c, op::upstream_send), "early");
    EXPECT_TRUE(pending(op::to_upstream_ready));

    ASSERT_TRUE(sc.receive(*c, op::upstream_recv, "late"));          // multishot: goes on
    ASSERT_TRUE(sc.receive_end(*c, op::upstream_recv, -ECANCELED));  // until the cancel
    EXPECT_FALSE(pending(op::to_client_ready));
    EXPECT_EQ(sc.send(*c, op::client_send), "late");
    EXPECT_TRUE(pending(op::to_client_ready));
    EXPECT_FALSE(pending(op::upstream_recv));
}

// Fills are edge-triggered: after bytes the next goes at once; after
// EAGAIN with an empty pipe (half a record: Linux 6.1 calls the socket
// readable, but wakes it only for a whole one) the next waits for a
// wakeup, never polling in a loop; after EAGAIN with bytes in the pipe
// (its slots taken) it goes again after the next drain.
TEST_F(SpliceScript, FillsWaitForAWakeupOrADrain) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    end_receives();
    readable(op::to_upstream_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, 1000));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, -EAGAIN));
    EXPECT_FALSE(pending(op::to_upstream_fill));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_drain, 1000));
    EXPECT_TRUE(pending(op::to_upstream_fill));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, -EAGAIN));
    EXPECT_FALSE(pending(op::to_upstream_fill));
    EXPECT_EQ(sc.find(*c, op::to_upstream_ready).size(), 1u);  // one poll, still armed
    readable(op::to_upstream_ready);
    EXPECT_TRUE(pending(op::to_upstream_fill));
    // A wakeup while a fill runs: the fill that finds nothing goes again.
    readable(op::to_upstream_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, -EAGAIN));
    EXPECT_TRUE(pending(op::to_upstream_fill));
    // The poll ended by the kernel (no IORING_CQE_F_MORE) is armed again.
    auto poll = sc.one(*c, op::to_upstream_ready);
    ASSERT_TRUE(poll);
    sc.complete(*poll, POLLIN);
    EXPECT_TRUE(pending(op::to_upstream_ready));
}

// A record the kernel refused while splicing gets its alert; the
// connection ends as a TLS error and everything is given back.
TEST_F(SpliceScript, RefusedRecordGetsItsAlert) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    end_receives();
    readable(op::to_upstream_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, -EBADMSG));
    auto alert = sc.one(*c, op::client_send);
    ASSERT_TRUE(alert);
    EXPECT_EQ(alert->bytes(), std::string("\x02\x14", 2));  // fatal bad_record_mac
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::tls_error), 1u);
}

// The client's socket broke under a splice into it: no close_notify, the
// upstream is reset too.
TEST_F(SpliceScript, BrokenClientEndsWithoutCloseNotify) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    end_receives();
    readable(op::to_client_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_client_fill, 100));
    ASSERT_TRUE(sc.splice(*c, op::to_client_drain, -EPIPE));
    EXPECT_FALSE(pending(op::client_send));
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::client_reset), 1u);
}

// The client's FIN without close_notify while splicing ends its direction
// (the upstream's FIN once the pipe is empty); the other goes on.
TEST_F(SpliceScript, ClientFinEndsItsDirection) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    end_receives();
    readable(op::to_upstream_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, 10));
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_fill, 0));
    EXPECT_FALSE(pending(op::to_upstream_fill));
    int upstream_fd = sc.one(*c, op::to_upstream_drain)->fd;
    ASSERT_TRUE(sc.splice(*c, op::to_upstream_drain, 10));
    EXPECT_TRUE(shutdown_of(upstream_fd));
    EXPECT_TRUE(pending(op::to_client_ready));
}

// Closing while splices wait on their polls: the sockets' cancels reach
// them (and what is linked behind), and everything is given back.
TEST_F(SpliceScript, IdleDeadlineCancelsTheSplices) {
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    end_receives();
    readable(op::to_client_ready);
    ASSERT_TRUE(sc.splice(*c, op::to_client_fill, 100));  // a drain waits too
    sc.rt.now_ms += limits.idle_timeout_ms + 1;
    tick();
    sc.settle();
    EXPECT_FALSE(open());
    EXPECT_EQ(closed(close_reason::idle_timeout), 1u);
}

// No pipe to be had: the connection copies, counted.
TEST_F(SpliceScript, NoPipeCopies) {
    env.splice_pipes = []() -> std::expected<transport::splice_pipe, std::string> {
        return std::unexpected("pipe2: Too many open files (test)");
    };
    test::memory_client tc(test::client_options{});
    splice_ready(tc);
    EXPECT_EQ(sc.counters.splice_fallbacks.load(), 1u);
    EXPECT_EQ(sc.counters.splice_connections.load(), 0u);
    ASSERT_TRUE(sc.receive_record(*c, op::client_recv, transport::record_application_data, "copy"));
    EXPECT_EQ(sc.send(*c, op::upstream_send), "copy");
    EXPECT_FALSE(pending(op::to_upstream_ready));
}

}  // namespace
}  // namespace tlsterm::conn
