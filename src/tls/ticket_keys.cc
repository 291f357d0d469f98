#include "tls/ticket_keys.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "common/pem.h"
#include "tls/wolfssl.h"

#include <wolfssl/wolfcrypt/hmac.h>

namespace tlsterm::tls {

namespace {

bool random_bytes(std::span<uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n <= 0) {
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

bool is_base64_text(std::string_view s) {
    return std::ranges::all_of(s, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || c == '=' || c == '\n' || c == '\r' || c == ' ' ||
               c == '\t' || c == '#';
    });
}

}  // namespace

std::expected<std::vector<raw_ticket_key>, std::string> parse_ticket_key_file(
    std::string_view content) {
    std::vector<raw_ticket_key> keys;
    // Raw: nginx's `openssl rand 80 > file`. Random bytes are almost never
    // all base64 characters; text that is, is read as lines.
    if (content.size() == ticket_key_file_size && !is_base64_text(content)) {
        auto& k = keys.emplace_back();
        std::memcpy(k.data(), content.data(), k.size());
        return keys;
    }
    if (!is_base64_text(content)) {
        return std::unexpected(
            "neither one raw 80-byte key (" + std::to_string(content.size()) +
            " bytes) nor base64 text (one 80-byte key per line, as `openssl rand 80 | base64 "
            "-w0` writes)");
    }
    std::size_t line_no = 0;
    std::size_t start = 0;
    while (start <= content.size()) {
        std::size_t end = content.find('\n', start);
        if (end == std::string_view::npos) {
            end = content.size();
        }
        std::string_view line = content.substr(start, end - start);
        start = end + 1;
        ++line_no;
        while (!line.empty() &&
               (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.remove_suffix(1);
        }
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            line.remove_prefix(1);
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::vector<uint8_t> bytes;
        if (!pem::decode_base64(line, bytes)) {
            return std::unexpected("line " + std::to_string(line_no) + ": not valid base64");
        }
        if (bytes.size() != ticket_key_file_size) {
            return std::unexpected(
                "line " + std::to_string(line_no) + ": a key of " + std::to_string(bytes.size()) +
                " bytes; keys are 80 bytes (16 name, 32 HMAC, 32 AES)" +
                (bytes.size() == 48 ? ": 48-byte (AES-128) keys are not accepted" : ""));
        }
        auto& k = keys.emplace_back();
        std::memcpy(k.data(), bytes.data(), k.size());
    }
    if (keys.empty()) {
        return std::unexpected("no key in the file");
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (std::equal(keys[i].begin(), keys[i].begin() + 16, keys[j].begin())) {
                return std::unexpected("keys " + std::to_string(j + 1) + " and " +
                                       std::to_string(i + 1) +
                                       " have the same name (their first 16 bytes)");
            }
        }
    }
    return keys;
}

ticket_key derive_ticket_key(const raw_ticket_key& raw) {
    ticket_key k;
    std::memcpy(k.name.data(), raw.data(), k.name.size());
    static constexpr std::string_view info = "tlsterm session ticket AES-256-GCM";
    // The name is public; the 64 bytes after it are the secret.
    wc_HKDF(WC_SHA256, raw.data() + 16, 64, raw.data(), 16,
            reinterpret_cast<const byte*>(info.data()), static_cast<word32>(info.size()),
            k.aead.data(), static_cast<word32>(k.aead.size()));
    return k;
}

const ticket_key* ticket_key_set::find(std::span<const uint8_t, 16> name,
                                       std::size_t* index) const {
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (std::equal(name.begin(), name.end(), keys[i].name.begin())) {
            if (index != nullptr) {
                *index = i;
            }
            return &keys[i];
        }
    }
    return nullptr;
}

std::shared_ptr<ticket_keys> ticket_keys::from_file(const std::vector<raw_ticket_key>& raw) {
    std::shared_ptr<ticket_keys> t(new ticket_keys());
    auto set = std::make_shared<ticket_key_set>();
    for (const auto& r : raw) {
        set->keys.push_back(derive_ticket_key(r));
    }
    t->_set.store(std::move(set));
    return t;
}

std::size_t ticket_keys::keys_kept(uint32_t rotation_s, uint32_t lifetime_s) {
    return 1 + (lifetime_s + rotation_s - 1) / std::max(rotation_s, 1u);
}

std::shared_ptr<ticket_keys> ticket_keys::generated(uint32_t rotation_s, uint32_t lifetime_s,
                                                    std::time_t now) {
    std::shared_ptr<ticket_keys> t(new ticket_keys());
    t->_generated = true;
    t->_rotation_s = rotation_s;
    t->_lifetime_s = lifetime_s;
    t->_set.store(std::make_shared<ticket_key_set>());
    t->_rotated_at = now - static_cast<std::time_t>(rotation_s);  // due now
    t->rotate(now);
    return t;
}

bool ticket_keys::rotate(std::time_t now) {
    if (!_generated || now - _rotated_at < static_cast<std::time_t>(_rotation_s)) {
        return false;
    }
    raw_ticket_key raw{};
    if (!random_bytes(raw)) {
        return false;  // tried again at the next tick
    }
    auto next = std::make_shared<ticket_key_set>();
    next->keys.push_back(derive_ticket_key(raw));
    std::memset(raw.data(), 0, raw.size());
    auto old = current();
    std::size_t keep = keys_kept(_rotation_s, _lifetime_s);
    for (const auto& k : old->keys) {
        if (next->keys.size() >= keep) {
            break;
        }
        next->keys.push_back(k);
    }
    _set.store(std::move(next), std::memory_order_release);
    _rotated_at = now;
    return true;
}

void ticket_keys::reschedule(uint32_t rotation_s, uint32_t lifetime_s) {
    _rotation_s = rotation_s;
    _lifetime_s = lifetime_s;
}

}  // namespace tlsterm::tls
