// Pooled TLS connections whose records go to the kernel (ktls = "on"),
// driven by scripted completions against a real wolfSSL server over memory
// (the origin), with the kernel's calls recorded: the move after the first
// exchange at a record boundary (a record cut across it read exactly),
// with the sequence numbers after everything wolfSSL sent and read; a
// waiter served only once the move is done; what the origin sends that is
// not application data, judged as on a client connection; the kernel's
// refusals; and every slot, buffer and descriptor returned.
#include <gtest/gtest.h>

#include <malloc.h>

#include <cerrno>
#include <iostream>
#include <string>
#include <vector>

#include "support/pki.h"
#include "tls/client_hello.h"
#include "tls/identity_cache.h"
#include "tls/server_context.h"
#include "unit/harness/script.h"
#include "unit/tls/memory_peer.h"
#include "unit/upstream/recording_user.h"
#include "upstream/pool.h"

namespace tlsterm::upstream {
namespace {

using runtime::op;

using test_support::recording_user;

std::span<const uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class PoolKernelRecords : public ::testing::TestWithParam<int> {
  protected:
    PoolKernelRecords() : descriptors(test::script::open_descriptors()) {
        cfg.name = "origin";
        cfg.addresses.push_back(*socket_address::parse("127.0.0.1:9"));
        cfg.pool.max_connections = 1;
        cfg.pool.queue_timeout_ms = 500;
        cfg.pool.idle_timeout_ms = 3000;
        cfg.tls.mode = upstream_tls_mode::tls;
        cfg.tls.ca_file = file_ref{test::pki("root-ca.pem"), {}};
        cfg.tls.server_name = "localhost";
        cfg.tls.verify_name = "localhost";
        cfg.tls.ktls = ktls_mode::on;
        auto ctx = client_context::create(cfg.tls);
        if (!ctx) {
            throw std::runtime_error(ctx.error());
        }
        client_ctx = std::move(*ctx);
        origin_cfg = test::one_listener_config(GetParam() == 0 ? "" : "max_version = \"1.2\"");
        auto anchors = tls::load_trust_anchors(*origin_cfg);
        auto sctx = tls::server_context::create(origin_cfg->listeners[0].name,
                                                origin_cfg->listeners[0].tls, *anchors);
        if (!sctx) {
            throw std::runtime_error(sctx.error());
        }
        origin_ctx = std::move(*sctx);
        calls.attach = [this](int) -> std::expected<void, std::string> {
            ++attached;
            if (refuse_attach) {
                return std::unexpected("no \"tls\" ULP (test)");
            }
            return {};
        };
        calls.install = [this](
                            int, bool tx,
                            const transport::kernel_keys& k) -> std::expected<void, std::string> {
            if (!tx && refuse_rx) {
                return std::unexpected("TLS_RX refused (test)");
            }
            installed.push_back({tx, k.tls13, k.sequence});
            return {};
        };
        p = std::make_unique<pool>(sc.rt, cfg, client_ctx.get(), &calls);
    }
    ~PoolKernelRecords() override {
        p->drain();
        sc.settle();
        EXPECT_EQ(p->objects(), 0u);
        p.reset();
        sc.expect_all_returned(descriptors);
    }

    bool tls13() const { return GetParam() == 0; }

    // The origin takes what the connection sent (ciphertext): the
    // ClientHello makes it, later bytes go to its handshake or are read.
    std::string origin_reads(runtime::ring_owner& c) {
        std::string wire = sc.send_all(c, op::upstream_send);
        if (wire.empty()) {
            return {};
        }
        if (!origin) {
            tls::client_hello hello;
            EXPECT_EQ(tls::parse_client_hello(bytes_of(wire), hello), tls::hello_status::complete);
            origin = tls::session::create(origin_ctx->select(hello), nullptr, &identities);
        }
        origin->cipher_in().append(bytes_of(wire));
        if (!origin->handshake_done() && origin->handshake() != tls::tls_status::ok) {
            return {};
        }
        std::string plain;
        uint8_t buf[4096];
        for (;;) {
            auto r = origin->read(buf);
            if (r.status != tls::tls_status::ok) {
                break;
            }
            plain.append(reinterpret_cast<const char*>(buf), r.bytes);
        }
        return plain;
    }
    // What the origin wrote, taken off its queue.
    std::string origin_wrote() {
        auto& q = origin->cipher_out();
        std::string out(q.readable().begin(), q.readable().end());
        q.clear();
        return out;
    }
    // `bytes` arrive on the connection's receive, one provided buffer each.
    void arrive(runtime::ring_owner& c, std::string_view bytes) {
        for (std::size_t at = 0; at < bytes.size(); at += 4096) {
            ASSERT_TRUE(sc.receive(c, op::upstream_recv, bytes.substr(at, 4096)));
        }
    }
    // `u` gets a new connection (`fresh`: even when one idles) through a
    // handshake with the origin.
    void connected(recording_user& u, bool fresh = false) {
        ASSERT_EQ(p->acquire(u, fresh), nullptr);
        sc.later.run();
        runtime::ring_owner* c = nullptr;
        for (const auto& s : sc.pending()) {
            if (s.op() == op::upstream_connect) {
                c = sc.slots.find(s.id);
            }
        }
        ASSERT_NE(c, nullptr);
        sc.connect(*c, 0);
        // TLS 1.3: the client is done before the origin has its Finished,
        // whose answer is the tickets.
        for (int round = 0; round < 10 && (u.conn == nullptr || !origin->handshake_done());
             ++round) {
            origin_reads(*c);
            arrive(*c, origin_wrote());
            sc.later.run();
        }
        ASSERT_NE(u.conn, nullptr);
        ASSERT_TRUE(origin->handshake_done());
    }
    // The request (userspace records) and the origin's answer.
    void exchange(recording_user& u, std::string_view request, std::string_view response) {
        u.conn->send(bytes_of(request));
        EXPECT_EQ(origin_reads(*u.conn), request);
        ASSERT_EQ(origin->write(bytes_of(response)), tls::tls_status::ok);
        arrive(*u.conn, origin_wrote());
    }
    void release(recording_user& u) {
        std::exchange(u.conn, nullptr)->release(true);
        sc.later.run();
    }
    // The receive's cancel completes, then the receive itself.
    void end_the_receive(runtime::ring_owner& c) {
        for (const auto& cancel : sc.find(c, op::socket_end)) {
            sc.complete(cancel, 0);
        }
        ASSERT_TRUE(sc.receive_end(c, op::upstream_recv, -ECANCELED));
    }
    // A new connection through its first exchange, released (on its way to
    // the kernel); null after a test failure.
    pooled_connection* first_exchange(recording_user& u, bool fresh = false) {
        connected(u, fresh);
        if (::testing::Test::HasFatalFailure()) {
            return nullptr;
        }
        exchange(u, "GET /", "200 OK");
        pooled_connection* c = u.conn;
        release(u);
        return c;
    }
    // ... and onto kernel records.
    pooled_connection* on_kernel_records(recording_user& u, bool fresh = false) {
        pooled_connection* c = first_exchange(u, fresh);
        if (c == nullptr) {
            return nullptr;
        }
        end_the_receive(*c);
        EXPECT_TRUE(c->kernel_records());
        return c;
    }

    struct keys {
        bool tx = false;
        bool tls13 = false;
        uint64_t sequence = 0;
    };

    test::script sc;
    std::size_t descriptors;
    upstream_config cfg;
    std::unique_ptr<client_context> client_ctx;
    std::shared_ptr<const config> origin_cfg;
    std::unique_ptr<tls::server_context> origin_ctx;
    tls::identity_cache identities{16};
    std::unique_ptr<tls::session> origin;
    transport::kernel_tls_calls calls;
    int attached = 0;
    bool refuse_attach = false;
    bool refuse_rx = false;
    std::vector<keys> installed;
    std::unique_ptr<pool> p;
};

// The first exchange runs on wolfSSL (a TLS 1.3 origin's tickets read with
// it); when it ends, the receive is cancelled, and once its last
// completion came the keys go to the kernel, TX then RX, with the sequence
// numbers after every record each side sent; the WOLFSSL is freed. The
// next request is plaintext for the kernel, its response a recvmsg; the
// close sends close_notify as an alert record.
TEST_P(PoolKernelRecords, RecordsGoToTheKernelAfterTheFirstExchange) {
    recording_user a;
    pooled_connection* c = first_exchange(a);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(a.data, "200 OK");
    EXPECT_EQ(attached, 1);
    EXPECT_TRUE(installed.empty());  // the receive has not ended yet
    EXPECT_FALSE(c->kernel_records());
    end_the_receive(*c);
    ASSERT_EQ(installed.size(), 2u);
    EXPECT_TRUE(installed[0].tx);
    EXPECT_FALSE(installed[1].tx);
    EXPECT_EQ(installed[0].tls13, tls13());
    // TLS 1.3: the client's one request; the origin's tickets (a record
    // each) and its response. TLS 1.2: each side's Finished was record 0.
    EXPECT_EQ(installed[0].sequence, tls13() ? 1u : 2u);
    EXPECT_EQ(installed[1].sequence, tls13() ? origin->tickets_issued() + 1u : 2u);
    EXPECT_TRUE(c->kernel_records());
    EXPECT_EQ(sc.counters.ktls_upstream_connections.load(), 1u);

    recording_user b;
    ASSERT_EQ(p->acquire(b), c);  // idle, at once
    b.conn = c;
    c->send(bytes_of("GET /2"));
    auto sent = sc.one(*c, op::upstream_send);
    ASSERT_TRUE(sent);
    EXPECT_EQ(sent->bytes(), "GET /2");  // plaintext: the kernel encrypts
    EXPECT_EQ(sc.send_all(*c, op::upstream_send), "GET /2");
    auto r = sc.one(*c, op::upstream_recv);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->opcode, IORING_OP_RECVMSG);
    ASSERT_TRUE(
        sc.receive_record(*c, op::upstream_recv, transport::record_application_data, "200 again"));
    EXPECT_EQ(b.data, "200 again");
    release(b);
    EXPECT_EQ(installed.size(), 2u);  // once
    p->drain();
    auto bye = sc.one(*c, op::upstream_send);
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->record_type(), transport::record_alert);
    EXPECT_EQ(bye->bytes(), std::string("\x01\x00", 2));  // close_notify
}

// A request waiting for the pool's one connection gets it only once its
// records are in the kernel, never in the middle of the move.
TEST_P(PoolKernelRecords, AWaiterGetsTheConnectionOnceTheMoveIsDone) {
    recording_user a, b;
    connected(a);
    exchange(a, "GET /", "200 OK");
    pooled_connection* c = a.conn;
    EXPECT_EQ(p->acquire(b), nullptr);  // max_connections = 1: it waits
    sc.later.run();
    release(a);
    EXPECT_TRUE(b.events.empty());
    end_the_receive(*c);
    sc.later.run();
    ASSERT_EQ(b.events, std::vector<std::string>{"connection"});
    EXPECT_EQ(b.conn, c);
    EXPECT_TRUE(c->kernel_records());
    release(b);
}

// A record the origin sends as the exchange ends, cut by the receive's
// cancel: the rest is read exactly (not a byte more) and wolfSSL reads it
// (a ticket is kept, nothing is lost) before the kernel takes over, with
// the sequence number after it.
TEST_P(PoolKernelRecords, ARecordCutAcrossTheMoveIsReadExactlyFirst) {
    recording_user a;
    pooled_connection* c = first_exchange(a);
    // A record from the origin after the response: a TLS 1.3 ticket, or
    // (TLS 1.2) a record of application data... which an idle connection
    // cannot take: only TLS 1.3 has a record an origin may send unasked.
    if (!tls13()) {
        end_the_receive(*c);
        EXPECT_TRUE(c->kernel_records());
        return;
    }
    ASSERT_EQ(wolfSSL_send_SessionTicket(origin->raw()), WOLFSSL_SUCCESS);
    std::string ticket = origin_wrote();
    ASSERT_GT(ticket.size(), 20u);
    ASSERT_TRUE(sc.receive(*c, op::upstream_recv, std::string_view(ticket).substr(0, 10)));
    end_the_receive(*c);
    auto exact = sc.one(*c, op::upstream_recv);
    ASSERT_TRUE(exact);
    EXPECT_EQ(exact->opcode, IORING_OP_RECV);
    EXPECT_FALSE(exact->multishot());
    EXPECT_EQ(exact->len, ticket.size() - 10);
    EXPECT_TRUE(installed.empty());
    ASSERT_TRUE(sc.receive(*c, op::upstream_recv, std::string_view(ticket).substr(10)));
    ASSERT_EQ(installed.size(), 2u);
    EXPECT_EQ(installed[1].sequence, origin->tickets_issued() + 2u);  // tickets, response, this
    EXPECT_TRUE(c->kernel_records());
    EXPECT_EQ(p->open_connections(), 1u);
}

// Application data arriving while the connection moves answers no request:
// the connection closes, as an idle one does.
TEST_P(PoolKernelRecords, DataDuringTheMoveClosesTheConnection) {
    recording_user a;
    pooled_connection* c = first_exchange(a);
    ASSERT_EQ(origin->write(bytes_of("late")), tls::tls_status::ok);
    arrive(*c, origin_wrote());
    EXPECT_EQ(p->open_connections(), 0u);
    EXPECT_TRUE(installed.empty());
}

// On kernel records, what the origin sends that is not application data:
// a ticket is dropped; close_notify ends a busy connection's response as
// the origin's close; an alert, a record the kernel refused and a KeyUpdate
// end it as errors (the refused record answered with its alert, the
// KeyUpdate with close_notify and counted).
TEST_P(PoolKernelRecords, ControlRecordsFromTheOrigin) {
    {
        recording_user a;
        pooled_connection* c = on_kernel_records(a);
        ASSERT_NE(c, nullptr);
        ASSERT_TRUE(sc.receive_record(*c, op::upstream_recv, transport::record_handshake,
                                      std::string("\x04\x00\x00\x00", 4)));  // a ticket
        EXPECT_EQ(p->open_connections(), 1u);
        recording_user b;
        ASSERT_EQ(p->acquire(b), c);
        ASSERT_TRUE(
            sc.receive_record(*c, op::upstream_recv, transport::record_application_data, "part"));
        ASSERT_TRUE(sc.receive_record(*c, op::upstream_recv, transport::record_alert,
                                      std::string("\x01\x00", 2)));
        sc.later.run();
        EXPECT_EQ(b.data, "part");
        EXPECT_EQ(b.events, std::vector<std::string>{"closed eof"});
        sc.settle();
    }
    struct ending {
        uint8_t type;
        std::string body;   // empty: a receive error (-EBADMSG)
        std::string reply;  // the alert record tlsterm sends, if any
    };
    const bool tls13 = this->tls13();
    const std::vector<ending> endings = {
        {transport::record_alert, std::string("\x02\x28", 2), ""},  // handshake_failure
        {0, "", std::string("\x02\x14", 2)},                        // bad_record_mac
        // KeyUpdate: close_notify under the old keys; TLS 1.2 has no such
        // message: unexpected_message.
        {transport::record_handshake, std::string("\x18\x00\x00\x01\x00", 5),
         tls13 ? std::string("\x01\x00", 2) : std::string("\x02\x0a", 2)},
    };
    for (const auto& e : endings) {
        origin.reset();
        recording_user a;
        pooled_connection* c = on_kernel_records(a);
        ASSERT_NE(c, nullptr);
        recording_user b;
        ASSERT_EQ(p->acquire(b), c);
        if (e.body.empty()) {
            ASSERT_TRUE(sc.receive_end(*c, op::upstream_recv, -EBADMSG));
        } else {
            ASSERT_TRUE(sc.receive_record(*c, op::upstream_recv, e.type, e.body));
        }
        sc.later.run();
        EXPECT_EQ(b.events, std::vector<std::string>{"closed error"}) << b.last_cause;
        auto reply = sc.find(*c, op::upstream_send);
        if (e.reply.empty()) {
            EXPECT_TRUE(reply.empty());
        } else {
            ASSERT_EQ(reply.size(), 1u);
            EXPECT_EQ(reply[0].record_type(), transport::record_alert);
            EXPECT_EQ(reply[0].bytes(), e.reply);
        }
        sc.settle();
    }
    EXPECT_EQ(sc.counters.ktls_upstream_key_updates.load(), tls13 ? 1u : 0u);
    EXPECT_EQ(sc.counters.ktls_upstream_connections.load(), 4u);
}

// A kernel that will not take the socket leaves the connection on wolfSSL,
// counted, and it serves the next request as before.
TEST_P(PoolKernelRecords, RefusedByTheKernelTheConnectionStaysInUserspace) {
    refuse_attach = true;
    recording_user a;
    pooled_connection* c = first_exchange(a);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(attached, 1);
    EXPECT_FALSE(c->kernel_records());
    EXPECT_EQ(sc.counters.ktls_upstream_fallbacks.load(), 1u);
    recording_user b;
    ASSERT_EQ(p->acquire(b), c);
    b.conn = c;
    exchange(b, "GET /2", "200 again");
    EXPECT_EQ(b.data, "200 again");
    release(b);
    EXPECT_EQ(attached, 1);  // tried once
}

// Receive keys refused after the transmit keys went in: no way back, the
// connection closes (without a close_notify wolfSSL would make).
TEST_P(PoolKernelRecords, ReceiveKeysRefusedCloses) {
    refuse_rx = true;
    recording_user a;
    pooled_connection* c = first_exchange(a);
    end_the_receive(*c);
    EXPECT_EQ(p->open_connections(), 0u);
    EXPECT_FALSE(sc.has(*c, op::upstream_send));
}

// A drain closes a connection in the middle of its move.
TEST_P(PoolKernelRecords, DrainClosesAConnectionOnItsWay) {
    recording_user a;
    ASSERT_NE(first_exchange(a), nullptr);
    EXPECT_EQ(p->open_connections(), 1u);
    p->drain();
    EXPECT_EQ(p->open_connections(), 0u);
}

// An idle pooled connection on kernel records keeps no WOLFSSL: what it
// holds (the object, its slot, its queues) stays under 1 KiB of heap.
TEST_P(PoolKernelRecords, IdleConnectionOnKernelRecordsHoldsUnderOneKibibyte) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "ASan's allocator keeps its own books: measured in the release build";
#else
    constexpr int n = 128;
    p->drain();
    sc.settle();
    cfg.pool.max_connections = 4 * n;
    p = std::make_unique<pool>(sc.rt, cfg, client_ctx.get(), &calls);
    std::vector<recording_user> users(2 * n);
    std::vector<pooled_connection*> all;
    all.reserve(2 * n);  // its growth is not the connections'
    // One round first: the slot table, the allocator's pools and the
    // pool's saved session grow.
    for (int round = 0; round < 2; ++round) {
        const std::size_t before = mallinfo2().uordblks;
        for (int i = 0; i < n; ++i) {
            origin.reset();
            pooled_connection* c =
                on_kernel_records(users[static_cast<std::size_t>(round * n + i)], true);
            ASSERT_NE(c, nullptr);
            all.push_back(c);
        }
        origin.reset();
        const std::size_t after = mallinfo2().uordblks;
        const double each = static_cast<double>(after - before) / n;
        if (round == 1) {
            std::cout << "[ memory   ] an idle pooled connection on kernel records: " << each
                      << " bytes of heap (sizeof(pooled_connection) " << sizeof(pooled_connection)
                      << ")\n";
            EXPECT_LT(each, 1024.0);
        }
    }
    EXPECT_EQ(p->open_connections(), 2u * n);
    EXPECT_EQ(sc.counters.ktls_upstream_connections.load(), 2u * n);
#endif
}

INSTANTIATE_TEST_SUITE_P(Versions, PoolKernelRecords, ::testing::Values(0, TLS1_2_VERSION),
                         [](const auto& p) { return p.param == 0 ? "TLS13" : "TLS12"; });

}  // namespace
}  // namespace tlsterm::upstream
