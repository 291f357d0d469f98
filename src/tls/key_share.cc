#include "tls/key_share.h"

#include "tls/wolfssl.h"

#include <wolfssl/wolfcrypt/ecc.h>

#include <algorithm>
#include <array>
#include <vector>

namespace tlsterm::tls {

namespace {

// The X25519 public values of small order (and their non-canonical
// encodings p-1, p, p+1), compared with the top bit cleared as RFC 7748
// decodes them; the list libsodium rejects.
constexpr std::array<std::array<uint8_t, 32>, 7> x25519_low_order = {{
    {0},
    {1},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
     0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
     0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
     0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
     0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}};

// A hex string (wolfCrypt's curve parameters) as `size` big-endian bytes.
std::vector<uint8_t> from_hex(const char* hex, std::size_t size) {
    std::vector<uint8_t> out(size, 0);
    std::string_view h(hex);
    auto nibble = [](char c) -> uint8_t {
        return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    };
    std::size_t i = size;
    for (std::size_t end = h.size(); end > 0 && i > 0;) {
        uint8_t v = nibble(h[end - 1]);
        if (end >= 2) {
            v = static_cast<uint8_t>(v | (nibble(h[end - 2]) << 4));
        }
        out[--i] = v;
        end = end >= 2 ? end - 2 : 0;
    }
    return out;
}

// wolfCrypt's index, coordinate size and field prime of a curve, looked up
// once per process (not per handshake).
struct curve_facts {
    int idx = -1;
    std::size_t size = 0;
    std::vector<uint8_t> prime;  // big-endian, `size` bytes
};

curve_facts facts_of(int curve_id) {
    curve_facts f;
    f.idx = wc_ecc_get_curve_idx(curve_id);
    const ecc_set_type* params = f.idx >= 0 ? wc_ecc_get_curve_params(f.idx) : nullptr;
    if (params != nullptr) {
        f.size = static_cast<std::size_t>(params->size);
        f.prime = from_hex(params->prime, f.size);
    }
    return f;
}

const curve_facts& curve_of(int curve_id) {
    static const curve_facts p256 = facts_of(ECC_SECP256R1);
    static const curve_facts p384 = facts_of(ECC_SECP384R1);
    static const curve_facts p521 = facts_of(ECC_SECP521R1);
    return curve_id == ECC_SECP256R1 ? p256 : curve_id == ECC_SECP384R1 ? p384 : p521;
}

std::string invalid_ecdhe(int curve_id, std::span<const uint8_t> share) {
    const curve_facts& curve = curve_of(curve_id);
    if (curve.size == 0) {
        return {};
    }
    int idx = curve.idx;
    std::size_t size = curve.size;
    const std::vector<uint8_t>& p = curve.prime;
    if (share.size() != 1 + 2 * size || share[0] != 0x04) {
        return "not an uncompressed point of " + std::to_string(1 + 2 * size) + " bytes";
    }
    auto x = share.subspan(1, size);
    auto y = share.subspan(1 + size, size);
    if (!std::ranges::lexicographical_compare(x, p) ||
        !std::ranges::lexicographical_compare(y, p)) {
        return "a coordinate is not below the field prime";
    }
    ecc_key key;
    if (wc_ecc_init(&key) != 0) {
        return "out of memory";
    }
    std::string why;
    if (wc_ecc_import_x963_ex(share.data(), static_cast<word32>(share.size()), &key, curve_id) !=
        0) {
        why = "not a point wolfCrypt can read";
    } else if (wc_ecc_point_is_on_curve(&key.pubkey, idx) != 0) {
        why = "not on the curve";
    }
    wc_ecc_free(&key);
    return why;
}

}  // namespace

std::string invalid_key_share(uint16_t group, std::span<const uint8_t> share) {
    switch (group) {
        case 23:
            return invalid_ecdhe(ECC_SECP256R1, share);
        case 24:
            return invalid_ecdhe(ECC_SECP384R1, share);
        case 25:
            return invalid_ecdhe(ECC_SECP521R1, share);
        case 29: {
            if (share.size() != 32) {
                return "not 32 bytes";
            }
            std::array<uint8_t, 32> u{};
            std::ranges::copy(share, u.begin());
            u[31] &= 0x7f;
            if (std::ranges::find(x25519_low_order, u) != x25519_low_order.end()) {
                return "a point of small order (the shared secret would be zero)";
            }
            return {};
        }
        default:
            return {};
    }
}

}  // namespace tlsterm::tls
