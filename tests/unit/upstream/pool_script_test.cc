// The pool and its pooled connections (plain upstreams) driven by scripted
// completions: connecting, the exchange, idling and reuse, every way a
// connection ends (origin EOF or reset while idle or busy, bytes on an idle
// connection, connect refused or timed out, response timeout, max_requests,
// drain), the bounded queue, and that no answer reaches a user inside the
// call that caused it. Each test ends with every slot, buffer and
// descriptor returned.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "unit/harness/script.h"
#include "unit/upstream/recording_user.h"
#include "upstream/pool.h"

namespace tlsterm::upstream {
namespace {

using runtime::op;
using test_support::recording_user;

class PoolScript : public ::testing::Test {
  protected:
    PoolScript() : descriptors(test::script::open_descriptors()) {
        cfg.name = "origin";
        cfg.addresses.push_back(*socket_address::parse("127.0.0.1:9"));
        cfg.connect_timeout_ms = 2000;
        cfg.pool.max_connections = 2;
        cfg.pool.queue_size = 1;
        cfg.pool.queue_timeout_ms = 500;
        cfg.pool.response_timeout_ms = 1000;
        cfg.pool.idle_timeout_ms = 3000;
        cfg.pool.max_requests = 3;
        p = std::make_unique<pool>(sc.rt, cfg, nullptr);
    }
    ~PoolScript() override {
        if (p) {
            p->drain();
            sc.settle();
        }
        EXPECT_EQ(p->objects(), 0u);
        p.reset();
        sc.expect_all_returned(descriptors);
    }

    // `u` asks the pool for a connection, as a request does: any answer
    // must come later.
    pooled_connection* acquire(recording_user& u, bool fresh = false) {
        u.inside = true;
        pooled_connection* c = p->acquire(u, fresh);
        u.inside = false;
        if (c != nullptr) {
            u.conn = c;
        }
        sc.later.run();  // the shard runs the deferred queue after the call's completion
        return c;
    }
    // `u` gets a new connection: asked for, connected, given.
    void connected(recording_user& u) {
        acquire(u);
        sc.connect(*connecting(), 0);
        ASSERT_NE(u.conn, nullptr);
    }
    // The pooled connection with a pending connect (the newest).
    runtime::ring_owner* connecting() {
        runtime::ring_owner* found = nullptr;
        for (const auto& s : sc.pending()) {
            if (s.op() == op::upstream_connect) {
                found = sc.slots.find(s.id);
            }
        }
        return found;
    }
    // One exchange on `u`'s connection: the request out, the response in.
    void exchange(recording_user& u, std::string_view response) {
        ASSERT_NE(u.conn, nullptr);
        u.inside = true;
        u.conn->send(std::span(reinterpret_cast<const uint8_t*>("GET"), 3));
        u.conn->await_response();
        u.inside = false;
        EXPECT_EQ(sc.send_all(*u.conn, op::upstream_send), "GET");
        ASSERT_TRUE(sc.receive(*u.conn, op::upstream_recv, response));
    }
    void release(recording_user& u, bool reusable) {
        u.inside = true;
        std::exchange(u.conn, nullptr)->release(reusable);
        u.inside = false;
        sc.later.run();
    }

    test::script sc;
    std::size_t descriptors;
    upstream_config cfg;
    std::unique_ptr<pool> p;
};

TEST_F(PoolScript, ConnectsOnDemandAndReusesAnIdleConnection) {
    recording_user a;
    EXPECT_EQ(acquire(a), nullptr);
    EXPECT_TRUE(a.events.empty());
    EXPECT_EQ(p->open_connections(), 1u);
    auto* c = connecting();
    ASSERT_NE(c, nullptr);
    sc.connect(*c, 0);
    ASSERT_EQ(a.events, std::vector<std::string>{"connection"});
    exchange(a, "OK");
    EXPECT_EQ(a.data, "OK");
    EXPECT_EQ(a.drained, 1);
    pooled_connection* first = a.conn;
    release(a, true);

    recording_user b;
    EXPECT_EQ(acquire(b), first);  // the idle one, at once
    EXPECT_EQ(first->requests(), 1u);
    EXPECT_EQ(p->open_connections(), 1u);
    EXPECT_EQ(sc.counters.upstream_connects.load(), 1u);
    release(b, true);
}

TEST_F(PoolScript, IdleConnectionClosedByTheOriginLeavesThePool) {
    recording_user a;
    connected(a);
    exchange(a, "OK");
    auto* c = a.conn;
    release(a, true);
    ASSERT_TRUE(sc.receive_end(*c, op::upstream_recv, 0));  // the origin closes it
    EXPECT_EQ(p->open_connections(), 0u);
    sc.settle();
    EXPECT_EQ(sc.slots.used(), 0u);

    recording_user b;
    EXPECT_EQ(acquire(b), nullptr);  // a new one, not the closed one
    sc.connect(*connecting(), 0);
    EXPECT_EQ(b.events, std::vector<std::string>{"connection"});
    release(b, true);
}

TEST_F(PoolScript, BytesOnAnIdleConnectionCloseIt) {
    recording_user a;
    connected(a);
    exchange(a, "OK");
    auto* c = a.conn;
    release(a, true);
    ASSERT_TRUE(sc.receive(*c, op::upstream_recv, "HTTP/1.1 200 late\r\n"));
    EXPECT_EQ(p->open_connections(), 0u);
    EXPECT_TRUE(a.data == "OK");  // nobody hears the late bytes
}

TEST_F(PoolScript, OriginEndingABusyConnectionTellsItsUserOnce) {
    recording_user a;
    connected(a);
    auto* c = a.conn;
    ASSERT_TRUE(sc.receive(*c, op::upstream_recv, "HTTP/1.0 200 OK\r\n\r\nbody"));
    ASSERT_TRUE(sc.receive_end(*c, op::upstream_recv, 0));
    EXPECT_EQ(a.events, (std::vector<std::string>{"connection", "closed eof"}));
    EXPECT_EQ(a.data, "HTTP/1.0 200 OK\r\n\r\nbody");
    EXPECT_EQ(p->open_connections(), 0u);
}

TEST_F(PoolScript, OriginResetOnABusyConnectionIsAnError) {
    recording_user a;
    connected(a);
    ASSERT_TRUE(sc.receive_end(*a.conn, op::upstream_recv, -ECONNRESET));
    EXPECT_EQ(a.events, (std::vector<std::string>{"connection", "closed error"}));
    EXPECT_NE(a.last_cause.find("Connection reset"), std::string::npos) << a.last_cause;
}

TEST_F(PoolScript, SendFailureOnABusyConnectionIsAnError) {
    recording_user a;
    connected(a);
    a.inside = true;
    a.conn->send(std::span(reinterpret_cast<const uint8_t*>("GET"), 3));
    a.inside = false;
    sc.complete(*sc.one(*a.conn, op::upstream_send), -EPIPE);
    EXPECT_EQ(a.events, (std::vector<std::string>{"connection", "closed error"}));
}

TEST_F(PoolScript, RefusedConnectMarksTheAddressDownAndAnswers502) {
    recording_user a;
    acquire(a);
    sc.connect(*connecting(), -ECONNREFUSED);
    ASSERT_EQ(a.events, std::vector<std::string>{"no connection 502"});
    EXPECT_NE(a.last_cause.find("Connection refused"), std::string::npos) << a.last_cause;
    EXPECT_EQ(sc.counters.upstream_connect_failures.load(), 1u);

    recording_user b;  // within the backoff: at once, without a connect
    acquire(b);
    EXPECT_EQ(connecting(), nullptr);
    EXPECT_EQ(b.events, std::vector<std::string>{"no connection 502"});

    sc.rt.now_ms += cfg.pool.down_backoff_ms;  // the backoff is over: tried again
    recording_user c;
    acquire(c);
    ASSERT_NE(connecting(), nullptr);
    sc.connect(*connecting(), 0);
    EXPECT_EQ(c.events, std::vector<std::string>{"connection"});
    release(c, true);
}

TEST_F(PoolScript, ConnectTimeoutAnswers502) {
    recording_user a;
    acquire(a);
    sc.connect(*connecting(), -ETIME);
    ASSERT_EQ(a.events, std::vector<std::string>{"no connection 502"});
    EXPECT_NE(a.last_cause.find("timed out"), std::string::npos) << a.last_cause;
}

TEST_F(PoolScript, FullQueueAnswers503AfterTheCall) {
    recording_user a, b, c, d;
    acquire(a);
    acquire(b);  // max_connections = 2
    sc.connect(*connecting(), 0);
    sc.connect(*connecting(), 0);
    ASSERT_NE(a.conn, nullptr);
    ASSERT_NE(b.conn, nullptr);
    acquire(c);  // waits (queue_size = 1)
    EXPECT_TRUE(c.events.empty());
    acquire(d);  // the queue is full
    EXPECT_EQ(d.events, std::vector<std::string>{"no connection 503"});

    release(a, true);  // handed on to the waiter, after the call
    EXPECT_EQ(c.events, std::vector<std::string>{"connection"});
    release(b, true);
    release(c, true);
}

// pool.client_share_percent: one client address holds at most its share
// of max_connections (50% of 4: 2); its next request waits, no connection
// is opened for it, and another address's request is served first. A
// connection its address lets go of (released, or closed while an idle
// one waits) goes to it.
TEST_F(PoolScript, AnAddressAtItsShareWaitsWhileOthersAreServed) {
    cfg.pool.max_connections = 4;
    cfg.pool.queue_size = 4;
    cfg.pool.client_share_percent = 50;
    p = std::make_unique<pool>(sc.rt, cfg, nullptr);
    recording_user a1, a2, a3, b;
    a1.address = a2.address = a3.address = 7;
    b.address = 8;
    connected(a1);
    connected(a2);
    acquire(a3);
    EXPECT_TRUE(a3.events.empty());
    EXPECT_EQ(connecting(), nullptr);  // nothing opened for a request held back
    EXPECT_EQ(p->open_connections(), 2u);
    connected(b);  // another address: served
    EXPECT_EQ(p->open_connections(), 3u);
    // b's connection idles: a3's address still holds its share.
    exchange(b, "OK");
    pooled_connection* idle = b.conn;
    release(b, true);
    EXPECT_TRUE(a3.events.empty());
    // a2's connection closes (the origin ends it mid-exchange): the idle one
    // goes to a3.
    auto* gone = std::exchange(a2.conn, nullptr);
    gone->abandon();
    sc.later.run();
    ASSERT_EQ(a3.events, std::vector<std::string>{"connection"});
    EXPECT_EQ(a3.conn, idle);
    // A release hands the connection to the next request of the same
    // address.
    recording_user a4;
    a4.address = 7;
    acquire(a4);
    EXPECT_TRUE(a4.events.empty());
    exchange(a1, "OK");
    pooled_connection* first = a1.conn;
    release(a1, true);
    ASSERT_EQ(a4.events, std::vector<std::string>{"connection"});
    EXPECT_EQ(a4.conn, first);
    release(a3, true);
    release(a4, true);
}

// A full queue keeps room for another address: the newest request of the
// address with the most waiting gives its place up (503), and the newcomer
// is served before the requests of the address at its share.
TEST_F(PoolScript, AFullQueueMakesRoomForAnotherAddress) {
    cfg.pool.max_connections = 2;
    cfg.pool.queue_size = 3;
    cfg.pool.client_share_percent = 50;
    p = std::make_unique<pool>(sc.rt, cfg, nullptr);
    recording_user a1, a2, a3, a4, b, c;
    for (auto* u : {&a1, &a2, &a3, &a4}) {
        u->address = 7;
    }
    b.address = 8;
    c.address = 9;
    connected(a1);
    connected(c);
    acquire(a2);
    acquire(a3);
    acquire(a4);  // the queue is full
    EXPECT_TRUE(a4.events.empty());
    acquire(b);
    ASSERT_EQ(a4.events, std::vector<std::string>{"no connection 503"});
    EXPECT_NE(a4.last_cause.find("client_share_percent"), std::string::npos) << a4.last_cause;
    EXPECT_TRUE(b.events.empty());
    // Another request of the crowding address is refused, not queued.
    recording_user a5;
    a5.address = 7;
    acquire(a5);
    EXPECT_EQ(a5.events, std::vector<std::string>{"no connection 503"});
    EXPECT_NE(a5.last_cause.find("(queue_size)"), std::string::npos) << a5.last_cause;
    exchange(c, "OK");
    release(c, true);  // a2 and a3 are held back: b is next
    EXPECT_EQ(b.events, std::vector<std::string>{"connection"});
    EXPECT_TRUE(a2.events.empty());
    exchange(a1, "OK");
    release(a1, true);
    EXPECT_EQ(a2.events, std::vector<std::string>{"connection"});
    release(a2, true);
    EXPECT_EQ(a3.events, std::vector<std::string>{"connection"});
    release(a3, true);
    release(b, true);
}

TEST_F(PoolScript, QueueTimeoutAnswers503OnTheTick) {
    recording_user a, b, c;
    acquire(a);
    acquire(b);
    for (int i = 0; i < 2; ++i) {
        sc.connect(*connecting(), 0);
    }
    acquire(c);
    sc.rt.now_ms += cfg.pool.queue_timeout_ms;
    p->tick();
    EXPECT_EQ(c.events, std::vector<std::string>{"no connection 503"});
    EXPECT_NE(c.last_cause.find("queue_timeout_ms"), std::string::npos);
    release(a, true);
    release(b, true);
}

TEST_F(PoolScript, ResponseTimeoutClosesTheConnection) {
    recording_user a;
    connected(a);
    a.conn->send(std::span(reinterpret_cast<const uint8_t*>("GET"), 3));
    a.conn->await_response();
    sc.send_all(*a.conn, op::upstream_send);
    sc.rt.now_ms += cfg.pool.response_timeout_ms;
    p->tick();
    EXPECT_EQ(a.events, (std::vector<std::string>{"connection", "response timeout"}));
    EXPECT_EQ(p->open_connections(), 0u);
}

TEST_F(PoolScript, IdleTimeoutClosesIdleConnections) {
    recording_user a;
    connected(a);
    exchange(a, "OK");
    release(a, true);
    EXPECT_EQ(p->open_connections(), 1u);
    sc.rt.now_ms += cfg.pool.idle_timeout_ms;
    p->tick();
    EXPECT_EQ(p->open_connections(), 0u);
}

TEST_F(PoolScript, MaxRequestsRetiresAConnection) {
    recording_user a;
    connected(a);
    for (uint32_t i = 0; i < cfg.pool.max_requests; ++i) {
        if (a.conn == nullptr) {
            ASSERT_NE(acquire(a), nullptr);
        }
        exchange(a, "OK");
        release(a, true);
    }
    EXPECT_EQ(p->open_connections(), 0u);
}

TEST_F(PoolScript, UnreusableReleaseClosesAndAbandonResets) {
    recording_user a, b;
    acquire(a);
    acquire(b);
    for (int i = 0; i < 2; ++i) {
        sc.connect(*connecting(), 0);
    }
    exchange(a, "partial");
    release(a, false);
    EXPECT_EQ(p->open_connections(), 1u);
    auto* c = b.conn;
    b.conn = nullptr;
    c->abandon();  // mid-exchange: no close_notify, no reuse
    EXPECT_EQ(p->open_connections(), 0u);
    EXPECT_TRUE(b.events == std::vector<std::string>{"connection"});  // nothing after abandon
}

TEST_F(PoolScript, CancelledWaiterHearsNothingAndItsConnectionIdles) {
    recording_user a, b;
    acquire(a);
    acquire(b);
    p->cancel(b);  // its client left before its connection came
    sc.connect(*connecting(), 0);
    sc.connect(*connecting(), 0);
    EXPECT_EQ(a.events.size() + b.events.size(), 1u);
    EXPECT_TRUE(b.events.empty());
    if (a.conn != nullptr) {
        release(a, true);
    }
}

TEST_F(PoolScript, BackpressurePausesAndResumesReads) {
    recording_user a;
    connected(a);
    a.conn->pause_reads(true);
    sc.settle();  // the receive is cancelled
    EXPECT_FALSE(sc.has(*a.conn, op::upstream_recv));
    a.conn->pause_reads(false);
    EXPECT_TRUE(sc.has(*a.conn, op::upstream_recv));
    exchange(a, "OK");
    release(a, true);
}

TEST_F(PoolScript, DrainClosesIdleAndRefusesNewConnections) {
    recording_user a;
    connected(a);
    exchange(a, "OK");
    release(a, true);
    p->drain();
    EXPECT_EQ(p->open_connections(), 0u);
}

}  // namespace
}  // namespace tlsterm::upstream
