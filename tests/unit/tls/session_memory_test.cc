// What wolfSSL keeps of a server session once its handshake is over, counted
// through its allocator hooks: the memory an idle TLS connection costs
// inside the library (MemoryTest measures the whole process from outside).
// Built without session certificates, without the inline peer certificate
// (tools/wolfssl-patches/0005) and without GHASH tables (AES-NI), about
// 3.9 KiB remain: the WOLFSSL, two AES-GCM contexts, the session, the DRBG.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <unordered_map>

#include "memory_peer.h"
#include "support/pki.h"
#include "tls/server_context.h"
#include "tls/session.h"

namespace tlsterm::tls {
namespace {

// Live wolfSSL allocations while counting, by address.
std::unordered_map<void*, std::size_t>* live = nullptr;

void* counted_malloc(std::size_t n) {
    void* p = std::malloc(n);
    if (live != nullptr && p != nullptr) {
        (*live)[p] = n;
    }
    return p;
}
void counted_free(void* p) {
    if (live != nullptr) {
        live->erase(p);
    }
    std::free(p);
}
void* counted_realloc(void* p, std::size_t n) {
    if (live != nullptr) {
        live->erase(p);
    }
    void* q = std::realloc(p, n);
    if (live != nullptr && q != nullptr) {
        (*live)[q] = n;
    }
    return q;
}

TEST(SessionMemory, AnIdleServerSessionHoldsUnder4500BytesOfWolfssl) {
    auto cfg = test::one_listener_config();
    auto ctx = server_context::create(cfg->listeners[0].name, cfg->listeners[0].tls,
                                      *load_trust_anchors(*cfg));
    ASSERT_TRUE(ctx) << ctx.error();
    wolfSSL_Malloc_cb old_malloc = nullptr;
    wolfSSL_Free_cb old_free = nullptr;
    wolfSSL_Realloc_cb old_realloc = nullptr;
    ASSERT_EQ(wolfSSL_GetAllocators(&old_malloc, &old_free, &old_realloc), 0);
    ASSERT_EQ(wolfSSL_SetAllocators(counted_malloc, counted_free, counted_realloc), 0);
    struct restore {  // whatever way the test ends
        wolfSSL_Malloc_cb m;
        wolfSSL_Free_cb f;
        wolfSSL_Realloc_cb r;
        ~restore() {
            live = nullptr;
            wolfSSL_SetAllocators(m, f, r);
        }
    } restore_hooks{old_malloc, old_free, old_realloc};
    for (int version : {0, TLS1_2_VERSION}) {
        constexpr int sessions = 20;
        std::unordered_map<void*, std::size_t> counted;
        std::vector<std::unique_ptr<session>> idle;
        for (int i = 0; i < sessions; ++i) {
            std::unique_ptr<session> s;
            {
                test::client_options o;
                o.max_version = version;
                test::memory_client c(o);
                ASSERT_EQ(c.connect(), 0);
                client_hello hello;
                ASSERT_EQ(parse_client_hello(c.out().readable(), hello), hello_status::complete);
                // From the server session's creation to the client's end:
                // what the client allocated meanwhile is freed with it.
                live = &counted;
                s = session::create((*ctx)->select(hello));
                ASSERT_TRUE(test::pump_handshake(c, *s)) << s->error();
            }
            live = nullptr;
            idle.push_back(std::move(s));
        }
        std::size_t total = 0;
        for (const auto& [p, n] : counted) {
            total += n;
        }
        std::size_t per = total / sessions;
        std::cout << "[ wolfssl  ] " << (version == 0 ? "TLS 1.3" : "TLS 1.2") << ": " << per
                  << " bytes per idle server session\n";
        EXPECT_LT(per, 4500u) << (version == 0 ? "TLS 1.3" : "TLS 1.2");
        live = &counted;  // frees of the sessions leave the map
        idle.clear();
        live = nullptr;
        EXPECT_TRUE(counted.empty()) << counted.size() << " allocations outlived their session";
    }
}

}  // namespace
}  // namespace tlsterm::tls
