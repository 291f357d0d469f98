#include "tls/ja4.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace tlsterm::tls {

namespace {

constexpr uint16_t ext_server_name = 0x0000;
constexpr uint16_t ext_alpn = 0x0010;
constexpr char hex_digits[] = "0123456789abcdef";

bool grease(uint16_t v) {
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);  // 0x0a0a, 0x1a1a, ... 0xfafa
}

// `values` without GREASE into `out` (reused).
void without_grease(const std::vector<uint16_t>& values, std::vector<uint16_t>& out) {
    out.clear();
    std::ranges::copy_if(values, std::back_inserter(out), [](uint16_t v) { return !grease(v); });
}

// Appends "0403,0804": four lower-case hex digits each, comma-separated.
void append_hex_list(const std::vector<uint16_t>& values, std::string& out) {
    bool first = true;
    for (uint16_t v : values) {
        if (!first) {
            out += ',';
        }
        first = false;
        const char digits[4] = {hex_digits[v >> 12], hex_digits[(v >> 8) & 0xf],
                                hex_digits[(v >> 4) & 0xf], hex_digits[v & 0xf]};
        out.append(digits, 4);
    }
}

// Appends the first 12 hex digits of the SHA-256 of `text`; twelve zeros
// for an empty list.
void append_hash12(const std::string& text, std::string& out) {
    if (text.empty()) {
        out += "000000000000";
        return;
    }
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    wc_Sha256Hash(reinterpret_cast<const unsigned char*>(text.data()),
                  static_cast<word32>(text.size()), digest.data());
    for (std::size_t i = 0; i < 6; ++i) {
        const char pair[2] = {hex_digits[digest[i] >> 4], hex_digits[digest[i] & 0xf]};
        out.append(pair, 2);
    }
}

std::string two_digits(std::size_t n) {
    n = std::min<std::size_t>(n, 99);
    return {static_cast<char>('0' + n / 10), static_cast<char>('0' + n % 10)};
}

std::string version_code(uint16_t v) {
    switch (v) {
        case 0x0304:
            return "13";
        case 0x0303:
            return "12";
        case 0x0302:
            return "11";
        case 0x0301:
            return "10";
        case 0x0300:
            return "s3";
        case 0x0002:
            return "s2";
        default:
            return "00";
    }
}

bool alphanumeric(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The first ALPN value's first and last characters ("h2", "h1" for
// http/1.1); when either is not alphanumeric, the first and last digits of
// the value in hex; "00" without ALPN.
std::string alpn_code(const std::vector<std::string>& alpn) {
    if (alpn.empty() || alpn.front().empty()) {
        return "00";
    }
    const auto first = static_cast<unsigned char>(alpn.front().front());
    const auto last = static_cast<unsigned char>(alpn.front().back());
    if (alphanumeric(first) && alphanumeric(last)) {
        return {static_cast<char>(first), static_cast<char>(last)};
    }
    return {hex_digits[first >> 4], hex_digits[last & 0xf]};
}

}  // namespace

std::string ja4(const client_hello& hello) {
    // Reused by every hello a shard reads: no allocation once grown.
    thread_local std::vector<uint16_t> values;
    thread_local std::string text;

    uint16_t version = 0;
    for (uint16_t v : hello.supported_versions) {
        version = grease(v) ? version : std::max(version, v);
    }
    if (version == 0) {
        version = hello.legacy_version;
    }
    std::size_t extensions = 0;
    bool sni = false;
    for (uint16_t e : hello.extensions) {
        extensions += grease(e) ? 0u : 1u;
        sni = sni || e == ext_server_name;
    }
    without_grease(hello.cipher_suites, values);

    std::string out;
    out.reserve(36);
    out += 't';
    out += version_code(version);
    out += sni ? 'd' : 'i';
    out += two_digits(values.size());
    out += two_digits(extensions);
    out += alpn_code(hello.alpn);

    std::ranges::sort(values);
    text.clear();
    append_hex_list(values, text);
    out += '_';
    append_hash12(text, out);

    values.clear();
    std::ranges::copy_if(hello.extensions, std::back_inserter(values), [](uint16_t e) {
        return !grease(e) && e != ext_server_name && e != ext_alpn;
    });
    std::ranges::sort(values);
    text.clear();
    append_hex_list(values, text);
    if (!text.empty()) {
        without_grease(hello.signature_schemes, values);
        if (!values.empty()) {
            text += '_';
            append_hex_list(values, text);
        }
    }
    out += '_';
    append_hash12(text, out);
    return out;
}

}  // namespace tlsterm::tls
