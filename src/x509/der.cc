#include "x509/der.h"

namespace tlsterm::der {

std::optional<uint8_t> reader::peek_tag() const {
    if (_rest.empty()) {
        return std::nullopt;
    }
    return _rest[0];
}

std::optional<element> reader::next() {
    if (_rest.size() < 2) {
        return std::nullopt;
    }
    uint8_t tag = _rest[0];
    if ((tag & 0x1f) == 0x1f) {
        return std::nullopt;  // high tag numbers never occur in CRLs
    }
    std::size_t pos = 2;
    std::size_t len = _rest[1];
    if (len & 0x80) {
        std::size_t n = len & 0x7f;
        if (n == 0 || n > 4 || _rest.size() < 2 + n) {
            return std::nullopt;  // indefinite or absurd lengths are not DER
        }
        len = 0;
        for (std::size_t i = 0; i < n; ++i) {
            len = (len << 8) | _rest[2 + i];
        }
        if (len < 0x80 || (n > 1 && _rest[2] == 0)) {
            return std::nullopt;  // non-minimal length encoding
        }
        pos += n;
    }
    if (_rest.size() - pos < len) {
        return std::nullopt;
    }
    element e;
    e.tag = tag;
    e.content = _rest.subspan(pos, len);
    e.whole = _rest.subspan(0, pos + len);
    _rest = _rest.subspan(pos + len);
    return e;
}

std::optional<element> reader::next_if(uint8_t tag) {
    if (peek_tag() != tag) {
        return std::nullopt;
    }
    return next();
}

namespace {

std::optional<int> digits(std::span<const uint8_t> s, std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<std::time_t> parse_time(const element& e) {
    auto s = e.content;
    std::size_t year_digits;
    if (e.tag == tag_utc_time && s.size() == 13) {
        year_digits = 2;
    } else if (e.tag == tag_generalized_time && s.size() == 15) {
        year_digits = 4;
    } else {
        return std::nullopt;
    }
    if (s.back() != 'Z') {
        return std::nullopt;
    }
    auto year = digits(s, 0, year_digits);
    std::size_t p = year_digits;
    auto month = digits(s, p, 2);
    auto day = digits(s, p + 2, 2);
    auto hour = digits(s, p + 4, 2);
    auto minute = digits(s, p + 6, 2);
    auto second = digits(s, p + 8, 2);
    if (!year || !month || !day || !hour || !minute || !second) {
        return std::nullopt;
    }
    int y = *year;
    if (year_digits == 2) {
        y += y >= 50 ? 1900 : 2000;  // RFC 5280 4.1.2.5.1
    }
    if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
        *second > 60) {
        return std::nullopt;
    }
    int64_t days = days_from_civil(y, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
    return static_cast<std::time_t>(days * 86400 + *hour * 3600 + *minute * 60 + *second);
}

std::optional<std::span<const uint8_t>> authority_key_id(std::span<const uint8_t> value) {
    reader r(value);
    auto seq = r.next_if(tag_sequence);
    if (!seq) {
        return std::nullopt;
    }
    reader fields(seq->content);
    if (auto id = fields.next_if(0x80)) {  // [0] keyIdentifier
        return id->content;
    }
    return std::span<const uint8_t>{};
}

}  // namespace tlsterm::der
