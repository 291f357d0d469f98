#include "tls/ticket.h"

#include <algorithm>
#include <cstring>

#include "tls/client_auth.h"
#include "tls/wolfssl.h"

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

namespace tlsterm::tls {

namespace {

constexpr uint8_t binding_format = 1;
constexpr uint8_t flag_identity = 1;
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

// One DRBG per thread (shards seal tickets concurrently).
bool nonce(std::span<uint8_t> out) {
    struct rng {
        WC_RNG r{};
        bool ok = false;
        rng() { ok = wc_InitRng(&r) == 0; }
        ~rng() {
            if (ok) {
                wc_FreeRng(&r);
            }
        }
    };
    thread_local rng drbg;
    return drbg.ok &&
           wc_RNG_GenerateBlock(&drbg.r, out.data(), static_cast<word32>(out.size())) == 0;
}

void put_binding(const ticket_binding& b, uint8_t* out) {
    out[0] = binding_format;
    out[1] = b.identity ? flag_identity : 0;
    out[2] = static_cast<uint8_t>(b.issued_at >> 24);
    out[3] = static_cast<uint8_t>(b.issued_at >> 16);
    out[4] = static_cast<uint8_t>(b.issued_at >> 8);
    out[5] = static_cast<uint8_t>(b.issued_at);
    std::memcpy(out + 6, b.policy.data(), b.policy.size());
    std::memset(out + 22, 0, 32);
    if (b.identity) {
        std::memcpy(out + 22, b.identity->data(), 32);
    }
}

std::optional<ticket_binding> get_binding(const uint8_t* in) {
    if (in[0] != binding_format || (in[1] & ~flag_identity) != 0) {
        return std::nullopt;
    }
    ticket_binding b;
    b.issued_at = (uint32_t{in[2]} << 24) | (uint32_t{in[3]} << 16) | (uint32_t{in[4]} << 8) |
                  uint32_t{in[5]};
    std::memcpy(b.policy.data(), in + 6, b.policy.size());
    if ((in[1] & flag_identity) != 0) {
        auto& id = b.identity.emplace();
        std::memcpy(id.data(), in + 22, id.size());
    }
    return b;
}

std::array<uint8_t, 32> aad(const ticket_fields& f) {
    std::array<uint8_t, 32> a{};
    std::memcpy(a.data(), f.name.data(), 16);
    std::memcpy(a.data() + 16, f.iv.data(), 16);
    return a;
}

}  // namespace

bool seal_ticket(const ticket_key& key, const ticket_binding& binding, std::size_t state_size,
                 std::span<uint8_t> buffer, const ticket_fields& out) {
    if (buffer.size() != state_size + ticket_binding_size) {
        return false;
    }
    put_binding(binding, buffer.data() + state_size);
    std::memcpy(out.name.data(), key.name.data(), key.name.size());
    std::memset(out.iv.data(), 0, out.iv.size());
    if (!nonce(out.iv.first(nonce_size))) {
        return false;
    }
    std::memset(out.mac.data(), 0, out.mac.size());
    auto ad = aad(out);
    Aes aes;
    if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0) {
        return false;
    }
    bool ok =
        wc_AesGcmSetKey(&aes, key.aead.data(), static_cast<word32>(key.aead.size())) == 0 &&
        wc_AesGcmEncrypt(&aes, buffer.data(), buffer.data(), static_cast<word32>(buffer.size()),
                         out.iv.data(), nonce_size, out.mac.data(), tag_size, ad.data(),
                         static_cast<word32>(ad.size())) == 0;
    wc_AesFree(&aes);
    return ok;
}

std::expected<opened_ticket, ticket_refusal> open_ticket(const ticket_key_set& keys,
                                                         std::span<uint8_t> buffer,
                                                         const ticket_fields& in) {
    opened_ticket t;
    const ticket_key* key = keys.find(in.name, &t.key_index);
    if (key == nullptr) {
        return std::unexpected(ticket_refusal::unknown_key);
    }
    bool zeros =
        std::all_of(in.iv.begin() + nonce_size, in.iv.end(), [](uint8_t b) { return b == 0; }) &&
        std::all_of(in.mac.begin() + tag_size, in.mac.end(), [](uint8_t b) { return b == 0; });
    if (!zeros || buffer.size() <= ticket_binding_size) {
        return std::unexpected(ticket_refusal::invalid);
    }
    auto ad = aad(in);
    Aes aes;
    if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0) {
        return std::unexpected(ticket_refusal::invalid);
    }
    bool ok =
        wc_AesGcmSetKey(&aes, key->aead.data(), static_cast<word32>(key->aead.size())) == 0 &&
        wc_AesGcmDecrypt(&aes, buffer.data(), buffer.data(), static_cast<word32>(buffer.size()),
                         in.iv.data(), nonce_size, in.mac.data(), tag_size, ad.data(),
                         static_cast<word32>(ad.size())) == 0;
    wc_AesFree(&aes);
    if (!ok) {
        // GCM decrypts before it checks: what is in the buffer is not a
        // ticket and must not be read as one.
        std::memset(buffer.data(), 0, buffer.size());
        return std::unexpected(ticket_refusal::invalid);
    }
    t.state_size = buffer.size() - ticket_binding_size;
    auto binding = get_binding(buffer.data() + t.state_size);
    if (!binding) {
        return std::unexpected(ticket_refusal::invalid);
    }
    t.binding = *binding;
    return t;
}

std::array<uint8_t, 16> policy_digest(std::string_view listener, const auth_policy& policy,
                                      const trust_anchors& anchors) {
    wc_Sha256 sha;
    wc_InitSha256(&sha);
    auto add = [&](const void* data, std::size_t size) {
        wc_Sha256Update(&sha, static_cast<const byte*>(data), static_cast<word32>(size));
    };
    auto add_u32 = [&](uint32_t v) {
        uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
        add(b, sizeof(b));
    };
    auto add_string = [&](std::string_view s) {
        add_u32(static_cast<uint32_t>(s.size()));
        add(s.data(), s.size());
    };
    add_string("tlsterm ticket policy 1");
    add_string(listener);
    add_u32(static_cast<uint32_t>(policy.mode));
    add_u32(policy.verify_depth);
    add_u32(policy.require_x509v3 ? 1 : 0);
    add_u32(static_cast<uint32_t>(policy.allow_subjects.size()));
    for (const auto& s : policy.allow_subjects) {
        add_string(s);
    }
    add_u32(static_cast<uint32_t>(policy.allow_sans.size()));
    for (const auto& s : policy.allow_sans) {
        add_string(s);
    }
    auto add_rule = [&](const auth_policy::crl_rule& r) {
        add_u32(static_cast<uint32_t>(r.policy));
        add_u32(static_cast<uint32_t>(r.stale));
        add_u32(r.grace_s);
    };
    add_rule(policy.fallback);
    // The CAs in a stable order (their DER digests, sorted): the same
    // bundle in another file order, or on another host, is the same policy.
    std::vector<std::pair<std::array<uint8_t, 32>, std::size_t>> cas;
    for (std::size_t i : policy.anchors) {
        std::array<uint8_t, 32> d{};
        const auto& der = anchors.ders[i];
        wc_Sha256Hash(der.data(), static_cast<word32>(der.size()), d.data());
        cas.emplace_back(d, i);
    }
    std::ranges::sort(cas);
    add_u32(static_cast<uint32_t>(cas.size()));
    for (const auto& [digest, index] : cas) {
        add(digest.data(), digest.size());
        add_rule(*policy.by_ca[index]);
    }
    std::array<uint8_t, 32> full{};
    wc_Sha256Final(&sha, full.data());
    wc_Sha256Free(&sha);
    std::array<uint8_t, 16> out{};
    std::memcpy(out.data(), full.data(), out.size());
    return out;
}

}  // namespace tlsterm::tls
