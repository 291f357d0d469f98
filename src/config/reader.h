// Walks a toml++ document while tracking key paths and source positions, so
// every error can name "listeners[0].tls.alpn[2] (tlsterm.toml:17:12)".
//
// Errors are raised as config_failure, an exception private to the config
// module: loading is setup code, the schema reads top to bottom without an
// error check per key, and load_config() turns the first failure into
// std::expected before anything leaves the module.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <tlsterm/config.h>

#include <toml++/toml.h>

namespace tlsterm::config_detail {

class config_failure : public std::exception {
  public:
    explicit config_failure(config_error e) : _error(std::move(e)) {}
    const config_error& error() const { return _error; }
    const char* what() const noexcept override { return _error.message.c_str(); }

  private:
    config_error _error;
};

struct parse_context {
    std::string file;                // display name used in positions
    std::filesystem::path base_dir;  // relative paths resolve against it
};

config_origin origin_at(const parse_context& ctx, std::string key_path,
                        const toml::source_region& where);

[[noreturn]] void fail(config_origin origin, std::string message);

// A string value together with where it came from.
struct located_string {
    std::string value;
    config_origin origin;
};

// One TOML table being read. Every getter records its key as known, so
// finish() can reject the keys nobody asked for. Call getters for every key
// of the schema, present or not.
class table_reader {
  public:
    table_reader(const toml::table& table, std::string path, const parse_context& ctx);

    const std::string& path() const { return _path; }
    const parse_context& context() const { return _ctx; }
    config_origin origin() const;  // the table itself
    std::string key_path(std::string_view key) const;

    bool has(std::string_view key) const;
    std::string string(std::string_view key, std::string_view fallback);
    located_string required_string(std::string_view key);
    int64_t integer(std::string_view key, int64_t fallback, int64_t min, int64_t max);
    bool boolean(std::string_view key, bool fallback);
    std::vector<located_string> string_array(std::string_view key);
    // The raw node, for keys that accept more than one type; null when absent.
    const toml::node* node(std::string_view key);
    config_origin origin_of(std::string_view key, const toml::node& value) const;

    std::optional<table_reader> table(std::string_view key);
    std::vector<table_reader> table_array(std::string_view key);

    // Fails on the first (by position) key that no getter asked for.
    void finish() const;

    [[noreturn]] void fail_at(std::string_view key, const toml::node& value,
                              std::string message) const;

  private:
    const toml::node* lookup(std::string_view key);

    const toml::table& _table;
    std::string _path;
    const parse_context& _ctx;
    std::set<std::string, std::less<>> _known;
};

std::string_view type_name(const toml::node& n);

}  // namespace tlsterm::config_detail
