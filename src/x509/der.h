// A minimal, bounds-checked DER reader (X.690 distinguished encoding) for the
// structures tlsterm parses itself: CRLs. Every read checks lengths against
// the enclosing element; nothing here allocates.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>

namespace tlsterm::der {

// Universal tags tlsterm reads.
inline constexpr uint8_t tag_integer = 0x02;
inline constexpr uint8_t tag_bit_string = 0x03;
inline constexpr uint8_t tag_octet_string = 0x04;
inline constexpr uint8_t tag_oid = 0x06;
inline constexpr uint8_t tag_utc_time = 0x17;
inline constexpr uint8_t tag_generalized_time = 0x18;
inline constexpr uint8_t tag_sequence = 0x30;
inline constexpr uint8_t tag_set = 0x31;
inline constexpr uint8_t tag_context_0 = 0xa0;  // [0] constructed

struct element {
    uint8_t tag = 0;
    std::span<const uint8_t> content;  // value bytes
    std::span<const uint8_t> whole;    // tag + length + value
};

// Reads consecutive elements from a byte range.
class reader {
  public:
    explicit reader(std::span<const uint8_t> data) : _rest(data) {}

    bool empty() const { return _rest.empty(); }
    std::optional<uint8_t> peek_tag() const;
    // Reads the next element; nullopt on malformed or truncated input.
    std::optional<element> next();
    // Reads the next element only if it has `tag`.
    std::optional<element> next_if(uint8_t tag);

  private:
    std::span<const uint8_t> _rest;
};

inline constexpr uint8_t tag_boolean = 0x01;
inline constexpr uint8_t tag_enumerated = 0x0a;
inline constexpr uint8_t tag_context_3 = 0xa3;  // [3] constructed

// One X.509 Extension (RFC 5280 4.1): extnID, critical, extnValue contents.
struct extension {
    std::span<const uint8_t> oid;
    bool critical = false;
    std::span<const uint8_t> value;  // the DER inside the OCTET STRING
};

// Calls `fn` for each Extension of a SEQUENCE OF Extension given as its
// contents. False when the list is malformed.
template <typename Fn>
bool for_each_extension(std::span<const uint8_t> list, Fn&& fn);

// 2.5.29.35, in certificates and CRLs alike.
inline constexpr std::array<uint8_t, 3> oid_authority_key_id = {0x55, 0x1d, 0x23};

// The keyIdentifier of an AuthorityKeyIdentifier extension value: empty when
// the extension names the issuer otherwise; nullopt when it is malformed.
std::optional<std::span<const uint8_t>> authority_key_id(std::span<const uint8_t> value);

// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) to seconds
// since the epoch, UTC. Only the 'Z' forms DER allows are accepted.
std::optional<std::time_t> parse_time(const element& e);

template <typename Fn>
bool for_each_extension(std::span<const uint8_t> list, Fn&& fn) {
    reader exts(list);
    while (!exts.empty()) {
        auto ext = exts.next_if(tag_sequence);
        if (!ext) {
            return false;
        }
        reader fields(ext->content);
        auto oid = fields.next_if(tag_oid);
        extension e;
        if (auto crit = fields.next_if(tag_boolean)) {
            e.critical = crit->content.size() == 1 && crit->content[0] != 0;
        }
        auto value = fields.next_if(tag_octet_string);
        if (!oid || !value || !fields.empty()) {
            return false;
        }
        e.oid = oid->content;
        e.value = value->content;
        fn(e);
    }
    return true;
}

}  // namespace tlsterm::der
