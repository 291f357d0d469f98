#include "tls/client_hello.h"

#include <algorithm>
#include <cstdio>

#include "tls/key_share.h"

namespace tlsterm::tls {

namespace {

constexpr uint8_t record_handshake = 22;
constexpr uint8_t handshake_client_hello = 1;
constexpr uint8_t handshake_server_hello = 2;

constexpr std::array<uint8_t, 32> hello_retry_random = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

constexpr uint16_t ext_server_name = 0;
constexpr uint16_t ext_supported_groups = 10;
constexpr uint16_t ext_signature_algorithms = 13;
constexpr uint16_t ext_alpn = 16;
constexpr uint16_t ext_supported_versions = 43;
constexpr uint16_t ext_key_share = 51;

// A bounds-checked cursor over big-endian TLS encodings.
class cursor {
  public:
    explicit cursor(std::span<const uint8_t> d) : _d(d) {}
    bool ok() const { return _ok; }
    bool empty() const { return _d.empty(); }
    std::size_t size() const { return _d.size(); }

    uint32_t u8() { return take(1); }
    uint32_t u16() { return take(2); }
    uint32_t u24() { return take(3); }
    std::span<const uint8_t> bytes(std::size_t n) {
        if (!_ok || _d.size() < n) {
            _ok = false;
            return {};
        }
        auto out = _d.first(n);
        _d = _d.subspan(n);
        return out;
    }
    cursor vec8() { return cursor(bytes(u8())); }
    cursor vec16() { return cursor(bytes(u16())); }

  private:
    uint32_t take(std::size_t n) {
        if (!_ok || _d.size() < n) {
            _ok = false;
            return 0;
        }
        uint32_t v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            v = (v << 8) | _d[i];
        }
        _d = _d.subspan(n);
        return v;
    }

    std::span<const uint8_t> _d;
    bool _ok = true;
};

std::vector<uint16_t> read_u16_list(cursor c) {
    std::vector<uint16_t> out;
    while (c.ok() && c.size() >= 2) {
        out.push_back(static_cast<uint16_t>(c.u16()));
    }
    return out;
}

bool parse_extensions(cursor exts, client_hello& out) {
    while (exts.ok() && !exts.empty()) {
        uint32_t type = exts.u16();
        cursor body = exts.vec16();
        if (!exts.ok()) {
            return false;
        }
        out.extensions.push_back(static_cast<uint16_t>(type));
        switch (type) {
            case ext_server_name: {
                cursor list = body.vec16();
                while (list.ok() && !list.empty()) {
                    uint32_t name_type = list.u8();
                    auto name = list.vec16();
                    if (name_type == 0 && out.server_name.empty()) {
                        auto raw = name.bytes(name.size());
                        out.server_name.assign(raw.begin(), raw.end());
                        std::ranges::transform(
                            out.server_name, out.server_name.begin(), [](unsigned char ch) {
                                return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
                            });
                    }
                }
                if (!list.ok()) {
                    return false;
                }
                break;
            }
            case ext_alpn: {
                cursor list = body.vec16();
                while (list.ok() && !list.empty()) {
                    auto proto = list.vec8();
                    auto raw = proto.bytes(proto.size());
                    if (raw.empty()) {
                        return false;  // RFC 7301: empty names are invalid
                    }
                    out.alpn.emplace_back(raw.begin(), raw.end());
                }
                if (!list.ok()) {
                    return false;
                }
                break;
            }
            case ext_signature_algorithms:
                out.signature_schemes = read_u16_list(body.vec16());
                break;
            case ext_supported_versions: {
                cursor list = body.vec8();
                out.supported_versions = read_u16_list(list);
                break;
            }
            case ext_supported_groups:
                out.groups = read_u16_list(body.vec16());
                break;
            case ext_key_share: {
                cursor list = body.vec16();
                while (list.ok() && !list.empty()) {
                    client_hello::key_share share;
                    share.group = static_cast<uint16_t>(list.u16());
                    cursor key = list.vec16();
                    auto raw = key.bytes(key.size());
                    share.key_exchange.assign(raw.begin(), raw.end());
                    out.key_shares.push_back(std::move(share));
                }
                if (!list.ok()) {
                    return false;
                }
                break;
            }
            default:
                break;
        }
    }
    return exts.ok();
}

}  // namespace

bool client_hello::offers_tls13() const {
    return std::ranges::find(supported_versions, 0x0304) != supported_versions.end();
}

bool client_hello::accepts_ecdsa(bool tls13) const {
    bool scheme = std::ranges::find(signature_schemes, 0x0403) != signature_schemes.end();
    if (signature_schemes.empty() && !tls13) {
        scheme = true;  // TLS 1.2 without the extension implies SHA-1 + ECDSA is acceptable
    }
    if (tls13) {
        return scheme;
    }
    // TLS 1.2 ECDHE_ECDSA suites: 0xC02B, 0xC02C (AES-GCM), 0xCCA9 (ChaCha20-Poly1305).
    bool suite = std::ranges::any_of(
        cipher_suites, [](uint16_t s) { return s == 0xC02B || s == 0xC02C || s == 0xCCA9; });
    return scheme && suite;
}

hello_status parse_client_hello(std::span<const uint8_t> data, client_hello& out) {
    // Reassemble the handshake message from as many records as it spans.
    std::vector<uint8_t> message;
    std::size_t needed = 0;  // total handshake message length once known
    std::size_t pos = 0;
    for (;;) {
        if (data.size() - pos < 5) {
            return pos == 0 && !data.empty() && data[0] != record_handshake
                       ? hello_status::not_tls
                       : hello_status::need_more;
        }
        uint8_t type = data[pos];
        if (data[pos + 1] != 3) {
            return pos == 0 ? hello_status::not_tls : hello_status::malformed;
        }
        if (type != record_handshake) {
            // Another TLS content type (20-24) is a record out of place; any
            // other first byte (an SSLv2 hello, plain HTTP) is not TLS.
            bool tls_type = type >= 20 && type <= 24;
            return pos == 0 && !tls_type ? hello_status::not_tls : hello_status::unexpected;
        }
        std::size_t len = (static_cast<std::size_t>(data[pos + 3]) << 8) | data[pos + 4];
        if (len == 0) {
            return hello_status::unexpected;  // no empty handshake fragments (RFC 8446 5.1)
        }
        if (len > 16384) {
            return hello_status::record_overflow;
        }
        if (data.size() - pos - 5 < len) {
            return pos + 5 + len > max_client_hello_wire ? hello_status::too_large
                                                         : hello_status::need_more;
        }
        auto fragment = data.subspan(pos + 5, len);
        message.insert(message.end(), fragment.begin(), fragment.end());
        pos += 5 + len;
        if (needed == 0 && message.size() >= 4) {
            if (message[0] != handshake_client_hello) {
                return hello_status::malformed;
            }
            needed = 4 + ((static_cast<std::size_t>(message[1]) << 16) |
                          (static_cast<std::size_t>(message[2]) << 8) | message[3]);
            if (needed > max_client_hello) {
                return hello_status::too_large;
            }
        }
        if (needed != 0 && message.size() >= needed) {
            break;
        }
        if (pos >= max_client_hello_wire) {
            return hello_status::too_large;
        }
    }

    cursor c(std::span<const uint8_t>(message).subspan(4, needed - 4));
    client_hello h;
    h.legacy_version = static_cast<uint16_t>(c.u16());
    c.bytes(32);  // random
    c.vec8();     // legacy_session_id
    h.cipher_suites = read_u16_list(c.vec16());
    c.vec8();  // legacy_compression_methods
    if (!c.ok()) {
        return hello_status::malformed;
    }
    if (!c.empty() && !parse_extensions(c.vec16(), h)) {
        return hello_status::malformed;
    }
    if (!c.ok() || h.cipher_suites.empty()) {
        return hello_status::malformed;
    }
    // The same handshake bytes in as few records as the limit allows.
    for (std::size_t at = 0; at < message.size(); at += 16384) {
        std::size_t n = std::min<std::size_t>(16384, message.size() - at);
        h.records.insert(h.records.end(),
                         {record_handshake, data[1], data[2], static_cast<uint8_t>(n >> 8),
                          static_cast<uint8_t>(n & 0xff)});
        h.records.insert(h.records.end(), message.begin() + static_cast<std::ptrdiff_t>(at),
                         message.begin() + static_cast<std::ptrdiff_t>(at + n));
    }
    h.consumed = pos;
    out = std::move(h);
    return hello_status::complete;
}

alert alert_for(hello_status s) {
    switch (s) {
        case hello_status::record_overflow:
            return alert::record_overflow;
        case hello_status::not_tls:
        case hello_status::unexpected:
            return alert::unexpected_message;
        case hello_status::malformed:
        case hello_status::too_large:
        case hello_status::complete:
        case hello_status::need_more:
            break;
    }
    return alert::decode_error;
}

std::array<uint8_t, 7> alert_record(alert a) {
    return {21, 3, 3, 0, 2, 2, static_cast<uint8_t>(a)};  // alert, TLS 1.2 record, fatal
}

std::optional<hello_refusal> refuse_hello(const client_hello& hello, uint16_t min_version,
                                          uint16_t max_version, std::span<const uint16_t> groups,
                                          std::span<const uint16_t> suites) {
    auto hex = [](uint16_t v) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "0x%04x", v);
        return std::string(buf);
    };
    // The version a handshake would use: the highest one both support.
    uint16_t version = 0;
    if (hello.supported_versions.empty()) {
        uint16_t v = std::min<uint16_t>(hello.legacy_version, 0x0303);
        version = v >= min_version && v <= max_version ? v : 0;
    } else {
        for (uint16_t v : hello.supported_versions) {
            if (v >= min_version && v <= max_version && v > version) {
                version = v;
            }
        }
    }
    if (hello.cipher_suites.size() > max_cipher_suites) {
        return hello_refusal{alert::decode_error, std::to_string(hello.cipher_suites.size()) +
                                                      " cipher suites offered (at most " +
                                                      std::to_string(max_cipher_suites) +
                                                      " are read)"};
    }
    if (hello.legacy_version <= 0x0300) {
        return hello_refusal{alert::protocol_version,
                             "legacy_version " + hex(hello.legacy_version) +
                                 " (SSL 3.0 or older; RFC 8446 appendix D.5)"};
    }
    if (version == 0) {
        std::string offered;
        for (uint16_t v : hello.supported_versions) {
            offered += (offered.empty() ? "" : ",") + hex(v);
        }
        return hello_refusal{alert::protocol_version,
                             "no TLS version in common (client: " +
                                 (offered.empty() ? "legacy_version " + hex(hello.legacy_version)
                                                  : "supported_versions " + offered) +
                                 ", tlsterm: " + hex(min_version) + " to " + hex(max_version) +
                                 ")"};
    }
    // Every suite tlsterm serves is (EC)DHE: without a common group no
    // handshake of either version can complete.
    if (!hello.groups.empty() && std::ranges::none_of(hello.groups, [&](uint16_t g) {
            return std::ranges::find(groups, g) != groups.end();
        })) {
        std::string offered;
        for (uint16_t g : hello.groups) {
            offered += (offered.empty() ? "" : ",") + std::to_string(g);
        }
        return hello_refusal{alert::handshake_failure,
                             "no key-exchange group in common (client offers " + offered + ")"};
    }
    // A suite of that version in common (TLS 1.3's are 0x13xx): without
    // one, RFC 5246 7.4.1.3 and RFC 8446 4.1.1 want handshake_failure
    // (wolfSSL 5.5.4 sent a TLS 1.2 client a ServerHello naming suite
    // 0x0000 instead).
    auto of_version = [&](uint16_t suite) { return ((suite >> 8) == 0x13) == (version == 0x0304); };
    if (!suites.empty() && std::ranges::none_of(hello.cipher_suites, [&](uint16_t c) {
            return of_version(c) && std::ranges::find(suites, c) != suites.end();
        })) {
        std::string offered;
        for (uint16_t c : hello.cipher_suites) {
            offered += (offered.empty() ? "" : ",") + hex(c);
        }
        return hello_refusal{alert::handshake_failure,
                             "no cipher suite in common for " +
                                 std::string(version == 0x0304 ? "TLS 1.3" : "TLS 1.2") +
                                 " (client offers " + offered + ")"};
    }
    if (version == 0x0304) {
        for (const auto& share : hello.key_shares) {
            if (std::ranges::find(groups, share.group) == groups.end()) {
                continue;  // a group tlsterm does not serve: never used
            }
            if (std::string why = invalid_key_share(share.group, share.key_exchange);
                !why.empty()) {
                return hello_refusal{
                    alert::illegal_parameter,
                    "invalid key share for group " + std::to_string(share.group) + ": " + why};
            }
        }
    }
    return std::nullopt;
}

const char* to_string(hello_status s) {
    switch (s) {
        case hello_status::complete:
            return "complete";
        case hello_status::need_more:
            return "need more data";
        case hello_status::not_tls:
            return "not a TLS handshake";
        case hello_status::unexpected:
            return "unexpected record before the ClientHello";
        case hello_status::record_overflow:
            return "record longer than 2^14 bytes";
        case hello_status::malformed:
            return "malformed ClientHello";
        case hello_status::too_large:
            return "ClientHello too large";
    }
    return "?";
}

bool is_hello_retry_request(std::span<const uint8_t> flight) {
    // Record header (5), handshake header (4), legacy_version (2), random.
    constexpr std::size_t random_at = 5 + 4 + 2;
    return flight.size() >= random_at + hello_retry_random.size() &&
           flight[0] == record_handshake && flight[5] == handshake_server_hello &&
           std::equal(hello_retry_random.begin(), hello_retry_random.end(),
                      flight.begin() + random_at);
}

}  // namespace tlsterm::tls
