#include "common/pem.h"

#include <array>

namespace tlsterm::pem {

namespace {

constexpr std::string_view begin_marker = "-----BEGIN ";
constexpr std::string_view end_marker = "-----END ";
constexpr std::string_view dashes = "-----";

constexpr std::array<int8_t, 256> make_base64_table() {
    std::array<int8_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
}
constexpr auto base64_table = make_base64_table();

}  // namespace

bool decode_base64(std::string_view body, std::vector<uint8_t>& out) {
    out.reserve(body.size() / 4 * 3 + 3);  // an upper bound: line breaks only shrink it
    uint32_t acc = 0;
    int bits = 0;
    int padding = 0;
    for (char c : body) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) {
            return false;  // data after padding
        }
        int8_t v = base64_table[static_cast<uint8_t>(c)];
        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
        }
    }
    return padding <= 2;
}

bool looks_like_pem(std::string_view data) {
    return data.find(begin_marker) != std::string_view::npos;
}

std::expected<std::vector<block>, std::string> decode_all(std::string_view data) {
    std::vector<block> blocks;
    std::size_t pos = 0;
    while ((pos = data.find(begin_marker, pos)) != std::string_view::npos) {
        std::size_t label_start = pos + begin_marker.size();
        std::size_t label_end = data.find(dashes, label_start);
        std::size_t line_end = data.find('\n', label_start);
        if (label_end == std::string_view::npos ||
            (line_end != std::string_view::npos && label_end > line_end)) {
            return std::unexpected("malformed PEM BEGIN line in block " +
                                   std::to_string(blocks.size() + 1));
        }
        block b;
        b.label = std::string(data.substr(label_start, label_end - label_start));
        std::size_t body_start = label_end + dashes.size();

        std::string end_line = std::string(end_marker) + b.label + std::string(dashes);
        std::size_t end_pos = data.find(end_line, body_start);
        std::size_t next_begin = data.find(begin_marker, body_start);
        if (end_pos == std::string_view::npos ||
            (next_begin != std::string_view::npos && next_begin < end_pos)) {
            return std::unexpected("PEM block " + std::to_string(blocks.size() + 1) + " (" +
                                   b.label + ") has no END line (truncated file?)");
        }
        std::string_view body = data.substr(body_start, end_pos - body_start);
        if (body.find(':') != std::string_view::npos) {
            return std::unexpected("PEM block " + std::to_string(blocks.size() + 1) + " (" +
                                   b.label + ") is encrypted (Proc-Type headers)");
        }
        if (!decode_base64(body, b.der) || b.der.empty()) {
            return std::unexpected("PEM block " + std::to_string(blocks.size() + 1) + " (" +
                                   b.label + ") has invalid base64");
        }
        blocks.push_back(std::move(b));
        pos = end_pos + end_line.size();
    }
    return blocks;
}

}  // namespace tlsterm::pem
