// Ticket keys (the 80-byte key file format, rotation), sealing and opening
// tickets, and the policy digest: pure functions, no handshake.
#include "tls/ticket.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/pem.h"
#include "tls/client_auth.h"
#include "tls/identity_cache.h"
#include "tls/ticket_keys.h"

namespace tlsterm::tls {
namespace {

std::string raw_key(uint8_t fill) {
    std::string k(80, static_cast<char>(fill));
    for (std::size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<char>(fill + i);
    }
    return k;
}

std::string base64(const std::string& bytes) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                     (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                     uint32_t{static_cast<uint8_t>(bytes[i + 2])};
        for (int s = 18; s >= 0; s -= 6) {
            out += alphabet[(v >> s) & 63];
        }
    }
    if (i + 1 == bytes.size()) {
        uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                     (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += "=";
    }
    return out;
}

TEST(TicketKeyFile, RawAndBase64LinesFirstKeyFirst) {
    // nginx: one raw key (`openssl rand 80`); bytes outside base64 text.
    std::string raw = raw_key(0x80);
    auto one = parse_ticket_key_file(raw);
    ASSERT_TRUE(one) << one.error();
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ(std::memcmp(one->front().data(), raw.data(), 80), 0);

    // HAProxy: base64 lines, comments and blank lines skipped.
    std::string text =
        "# rotated daily\n" + base64(raw_key(1)) + "\n\n  " + base64(raw_key(2)) + "\r\n";
    auto two = parse_ticket_key_file(text);
    ASSERT_TRUE(two) << two.error();
    ASSERT_EQ(two->size(), 2u);
    EXPECT_EQ((*two)[0][0], 1);
    EXPECT_EQ((*two)[1][0], 2);
}

TEST(TicketKeyFile, RefusalsNameTheLineNeverTheKey) {
    auto short_key =
        parse_ticket_key_file(base64(raw_key(1)) + "\n" + base64(raw_key(2).substr(0, 48)));
    ASSERT_FALSE(short_key);
    EXPECT_EQ(short_key.error(),
              "line 2: a key of 48 bytes; keys are 80 bytes (16 name, 32 HMAC, 32 AES): 48-byte "
              "(AES-128) keys are not accepted");
    EXPECT_FALSE(parse_ticket_key_file(""));
    EXPECT_EQ(parse_ticket_key_file("").error(), "no key in the file");
    auto bad = parse_ticket_key_file("QUJD*\n");
    ASSERT_FALSE(bad);
    EXPECT_TRUE(bad.error().starts_with("neither one raw 80-byte key")) << bad.error();
    auto same_name = parse_ticket_key_file(base64(raw_key(1)) + "\n" + base64(raw_key(1)) + "\n");
    ASSERT_FALSE(same_name);
    EXPECT_EQ(same_name.error(), "keys 1 and 2 have the same name (their first 16 bytes)");
    std::string b64 = base64(raw_key(1));
    EXPECT_EQ(short_key.error().find(b64.substr(0, 16)), std::string::npos);
}

TEST(TicketKeys, GeneratedKeysRotateAndKeepWhatTheLifetimeNeeds) {
    EXPECT_EQ(ticket_keys::keys_kept(3600, 300), 2u);
    EXPECT_EQ(ticket_keys::keys_kept(3600, 3600), 2u);
    EXPECT_EQ(ticket_keys::keys_kept(600, 3600), 7u);
    auto keys = ticket_keys::generated(600, 1200, 1000);
    ASSERT_EQ(keys->size(), 1u);
    auto first = keys->current()->keys[0].name;
    EXPECT_FALSE(keys->rotate(1000 + 599));  // not due
    EXPECT_TRUE(keys->rotate(1000 + 600));
    EXPECT_EQ(keys->size(), 2u);
    EXPECT_NE(keys->current()->keys[0].name, first);
    EXPECT_EQ(keys->current()->keys[1].name, first);  // still opens its tickets
    EXPECT_TRUE(keys->rotate(1000 + 1200));
    EXPECT_TRUE(keys->rotate(1000 + 1800));
    EXPECT_EQ(keys->size(), 3u);  // 1 + 1200 / 600
    std::size_t index = 9;
    EXPECT_EQ(keys->current()->find(first, &index), nullptr);  // aged out
    // A key file's keys never rotate.
    auto fixed = ticket_keys::from_file({raw_ticket_key{}});
    EXPECT_FALSE(fixed->rotate(1'000'000'000));
}

struct sealed {
    std::array<uint8_t, 16> name{};
    std::array<uint8_t, 16> iv{};
    std::array<uint8_t, 32> mac{};
    std::vector<uint8_t> buffer;
    ticket_fields fields() { return {name, iv, mac}; }
};

sealed seal_one(const ticket_key& key, const ticket_binding& b, std::size_t state = 76) {
    sealed s;
    s.buffer.resize(state + ticket_binding_size);
    for (std::size_t i = 0; i < state; ++i) {
        s.buffer[i] = static_cast<uint8_t>(i);
    }
    EXPECT_TRUE(seal_ticket(key, b, state, s.buffer, s.fields()));
    return s;
}

TEST(TicketSeal, OpensWithItsKeyAndCarriesTheBinding) {
    auto keys = ticket_keys::from_file({*parse_ticket_key_file(raw_key(0x80))->begin()});
    const ticket_key& key = keys->current()->keys[0];
    ticket_binding b;
    b.issued_at = 1'700'000'000;
    b.policy.fill(7);
    b.identity.emplace().fill(9);
    auto s = seal_one(key, b);
    EXPECT_EQ(std::memcmp(s.name.data(), key.name.data(), 16), 0);
    // Encrypted: the state no longer reads as what was sealed (one byte alone is 0 one time in
    // 256).
    std::size_t unchanged = 0;
    for (std::size_t i = 0; i < 76; ++i) {
        unchanged += s.buffer[i] == i;
    }
    EXPECT_LT(unchanged, 76u / 2);
    auto opened = open_ticket(*keys->current(), s.buffer, s.fields());
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->state_size, 76u);
    EXPECT_EQ(opened->key_index, 0u);
    EXPECT_EQ(opened->binding.issued_at, b.issued_at);
    EXPECT_EQ(opened->binding.policy, b.policy);
    ASSERT_TRUE(opened->binding.identity);
    EXPECT_EQ(*opened->binding.identity, *b.identity);
    for (std::size_t i = 0; i < 76; ++i) {
        ASSERT_EQ(s.buffer[i], i);  // wolfSSL's state, decrypted in place
    }
}

TEST(TicketSeal, AnyAlteredByteOrAnotherKeyIsRefused) {
    auto keys = ticket_keys::from_file(
        *parse_ticket_key_file(base64(raw_key(1)) + "\n" + base64(raw_key(2)) + "\n"));
    ticket_binding b;
    b.issued_at = 1;
    auto original = seal_one(keys->current()->keys[0], b);
    // The key name, the IV (associated data), the ciphertext, the tag.
    for (int part = 0; part < 4; ++part) {
        for (std::size_t at : {std::size_t{0}, std::size_t{5}, std::size_t{11}}) {
            auto s = original;
            uint8_t* p = part == 0   ? s.name.data()
                         : part == 1 ? s.iv.data()
                         : part == 2 ? s.buffer.data() + at * 7
                                     : s.mac.data();
            p[at] ^= 1;
            auto r = open_ticket(*keys->current(), s.buffer, s.fields());
            ASSERT_FALSE(r) << part << " " << at;
            EXPECT_EQ(r.error(), part == 0 ? ticket_refusal::unknown_key : ticket_refusal::invalid);
        }
    }
    // The zero tail of the IV and of the MAC field belongs to the format.
    auto s = original;
    s.mac[20] = 1;
    EXPECT_EQ(open_ticket(*keys->current(), s.buffer, s.fields()).error(), ticket_refusal::invalid);
    // Sealed with the second (older) key: opens, and says so.
    auto old = seal_one(keys->current()->keys[1], b);
    auto r = open_ticket(*keys->current(), old.buffer, old.fields());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->key_index, 1u);
    // Another file's keys know nothing of it.
    auto other = ticket_keys::from_file({*parse_ticket_key_file(raw_key(0x90))->begin()});
    EXPECT_EQ(open_ticket(*other->current(), original.buffer, original.fields()).error(),
              ticket_refusal::unknown_key);
}

TEST(TicketPolicyDigest, NamesListenerModeCasAndRules) {
    trust_anchors anchors;  // empty: policies differ by their own settings
    client_auth_config c;
    c.mode = client_auth_mode::require;
    auto base = auth_policy::make(c, anchors);
    auto d = policy_digest("main", base, anchors);
    EXPECT_EQ(d, policy_digest("main", base, anchors));
    EXPECT_NE(d, policy_digest("other", base, anchors));
    auto optional = base;
    optional.mode = client_auth_mode::optional;
    EXPECT_NE(d, policy_digest("main", optional, anchors));
    auto allow = base;
    allow.allow_subjects = {"/CN=a*"};
    EXPECT_NE(d, policy_digest("main", allow, anchors));
    auto depth = base;
    depth.verify_depth = 1;
    EXPECT_NE(d, policy_digest("main", depth, anchors));
}

TEST(IdentityCache, BoundedLeastRecentlyUsedByDigest) {
    identity_cache cache(32);  // 2 per stripe
    auto make = [](uint8_t stripe, uint8_t n) {
        auto id = std::make_shared<verified_identity>();
        id->leaf_sha256.fill(n);
        id->leaf_sha256[31] = stripe;  // the stripe is chosen by the last byte
        return id;
    };
    auto a = make(0, 1), b = make(0, 2), c = make(0, 3);
    cache.insert(a);
    cache.insert(b);
    EXPECT_EQ(cache.find(a->leaf_sha256), a);  // a is now the most recent
    cache.insert(c);                           // b goes
    EXPECT_EQ(cache.find(b->leaf_sha256), nullptr);
    EXPECT_EQ(cache.find(a->leaf_sha256), a);
    EXPECT_EQ(cache.find(c->leaf_sha256), c);
    EXPECT_EQ(cache.size(), 2u);
    cache.set_capacity(0);
    EXPECT_EQ(cache.size(), 0u);
    cache.insert(a);
    EXPECT_EQ(cache.find(a->leaf_sha256), nullptr);
}

}  // namespace
}  // namespace tlsterm::tls
