// Session ticket keys: the 80-byte key format of nginx's
// ssl_session_ticket_key and HAProxy's tls-ticket-keys (16-byte name,
// 32-byte HMAC secret, 32-byte AES key), and the set of keys every shard
// seals and opens tickets with.
//
// A key file holds one key raw (80 bytes, `openssl rand 80`) or one key per
// line in base64 (`openssl rand 80 | base64 -w0`); the first key seals new
// tickets, every key opens them. tlsterm's tickets are AES-256-GCM under a
// key derived from the 64 secret bytes (HKDF-SHA256), never the AES or HMAC
// key itself: the same file may serve nginx, whose tickets use those keys
// with AES-CBC and HMAC, without one key serving two ciphers.
//
// Without a file, ticket_keys::generated() makes random keys and rotate()
// replaces the sealing key every rotation period, keeping the older ones as
// long as a ticket sealed with them can live. The main thread rotates; the
// shards read the current set (an atomic shared_ptr) once per ticket.
//
// Key material is never logged: errors name the file and line only.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsterm::tls {

inline constexpr std::size_t ticket_key_file_size = 80;  // one key: name, HMAC, AES
using raw_ticket_key = std::array<uint8_t, ticket_key_file_size>;

struct ticket_key {
    std::array<uint8_t, 16> name{};
    std::array<uint8_t, 32> aead{};  // AES-256-GCM key
};

// The keys of a key file's content, first (sealing) key first. Errors are
// "line N: ..." (or a size message for a raw file), never the bytes.
std::expected<std::vector<raw_ticket_key>, std::string> parse_ticket_key_file(
    std::string_view content);

ticket_key derive_ticket_key(const raw_ticket_key& raw);

struct ticket_key_set {
    std::vector<ticket_key> keys;  // [0] seals; all open
    // The key named `name` and its position (0 = the sealing key), or
    // nullptr.
    const ticket_key* find(std::span<const uint8_t, 16> name, std::size_t* index = nullptr) const;
};

class ticket_keys {
  public:
    // The keys of a file (at least one).
    static std::shared_ptr<ticket_keys> from_file(const std::vector<raw_ticket_key>& raw);
    // Random keys rotated every `rotation_s`, for tickets living `lifetime_s`.
    static std::shared_ptr<ticket_keys> generated(uint32_t rotation_s, uint32_t lifetime_s,
                                                  std::time_t now);

    std::shared_ptr<const ticket_key_set> current() const {
        return _set.load(std::memory_order_acquire);
    }
    bool is_generated() const { return _generated; }
    // Generated keys: a new sealing key when the rotation period has
    // passed since the last one (true then). The main thread only.
    bool rotate(std::time_t now);
    // Generated keys: another schedule (a reload changed it); takes
    // effect at the next rotation.
    void reschedule(uint32_t rotation_s, uint32_t lifetime_s);
    // Keys a generated set keeps: the sealing key and enough older ones to
    // open a ticket sealed just before each rotation until it expires.
    static std::size_t keys_kept(uint32_t rotation_s, uint32_t lifetime_s);
    std::size_t size() const { return current()->keys.size(); }

  private:
    ticket_keys() = default;

    std::atomic<std::shared_ptr<const ticket_key_set>> _set;
    bool _generated = false;
    uint32_t _rotation_s = 0;
    uint32_t _lifetime_s = 0;
    std::time_t _rotated_at = 0;
};

}  // namespace tlsterm::tls
