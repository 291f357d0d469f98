#include "config/reader.h"

#include <algorithm>
#include <limits>

namespace tlsterm::config_detail {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

config_origin origin_at(const parse_context& ctx, std::string key_path,
                        const toml::source_region& where) {
    config_origin o;
    o.key_path = std::move(key_path);
    o.file = ctx.file;
    o.line = where.begin.line;
    o.column = where.begin.column;
    return o;
}

void fail(config_origin origin, std::string message) {
    throw config_failure(config_error{std::move(origin), std::move(message)});
}

table_reader::table_reader(const toml::table& table, std::string path, const parse_context& ctx)
    : _table(table), _path(std::move(path)), _ctx(ctx) {}

config_origin table_reader::origin() const {
    return origin_at(_ctx, _path, _table.source());
}

std::string table_reader::key_path(std::string_view key) const {
    return _path.empty() ? std::string(key) : _path + "." + std::string(key);
}

config_origin table_reader::origin_of(std::string_view key, const toml::node& value) const {
    return origin_at(_ctx, key_path(key), value.source());
}

void table_reader::fail_at(std::string_view key, const toml::node& value,
                           std::string message) const {
    fail(origin_of(key, value), std::move(message));
}

const toml::node* table_reader::lookup(std::string_view key) {
    _known.emplace(key);
    return _table.get(key);
}

bool table_reader::has(std::string_view key) const {
    return _table.contains(key);
}

const toml::node* table_reader::node(std::string_view key) {
    return lookup(key);
}

std::string table_reader::string(std::string_view key, std::string_view fallback) {
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return std::string(fallback);
    }
    if (!n->is_string()) {
        fail_at(key, *n, "expected a string, got " + std::string(type_name(*n)));
    }
    return n->as_string()->get();
}

located_string table_reader::required_string(std::string_view key) {
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        auto o = origin();
        o.key_path = key_path(key);
        fail(o, "missing required key");
    }
    if (!n->is_string()) {
        fail_at(key, *n, "expected a string, got " + std::string(type_name(*n)));
    }
    if (n->as_string()->get().empty()) {
        fail_at(key, *n, "must not be empty");
    }
    return {n->as_string()->get(), origin_of(key, *n)};
}

int64_t table_reader::integer(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return fallback;
    }
    if (!n->is_integer()) {
        fail_at(key, *n, "expected an integer, got " + std::string(type_name(*n)));
    }
    int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
        fail_at(key, *n,
                "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    ", got " + std::to_string(v));
    }
    return v;
}

bool table_reader::boolean(std::string_view key, bool fallback) {
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return fallback;
    }
    if (!n->is_boolean()) {
        fail_at(key, *n, "expected true or false, got " + std::string(type_name(*n)));
    }
    return n->as_boolean()->get();
}

std::vector<located_string> table_reader::string_array(std::string_view key) {
    std::vector<located_string> out;
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return out;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
        fail_at(key, *n, "expected an array of strings, got " + std::string(type_name(*n)));
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& item = *arr->get(i);
        std::string item_path = key_path(key) + "[" + std::to_string(i) + "]";
        if (!item.is_string()) {
            fail(origin_at(_ctx, item_path, item.source()),
                 "expected a string, got " + std::string(type_name(item)));
        }
        if (item.as_string()->get().empty()) {
            fail(origin_at(_ctx, item_path, item.source()), "must not be empty");
        }
        out.push_back({item.as_string()->get(), origin_at(_ctx, item_path, item.source())});
    }
    return out;
}

std::optional<table_reader> table_reader::table(std::string_view key) {
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    if (!n->is_table()) {
        fail_at(key, *n, "expected a table, got " + std::string(type_name(*n)));
    }
    return table_reader(*n->as_table(), key_path(key), _ctx);
}

std::vector<table_reader> table_reader::table_array(std::string_view key) {
    std::vector<table_reader> out;
    const toml::node* n = lookup(key);
    if (n == nullptr) {
        return out;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
        fail_at(key, *n,
                "expected an array of tables ([[" + key_path(key) + "]]), got " +
                    std::string(type_name(*n)));
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& item = *arr->get(i);
        std::string item_path = key_path(key) + "[" + std::to_string(i) + "]";
        if (!item.is_table()) {
            fail(origin_at(_ctx, item_path, item.source()),
                 "expected a table, got " + std::string(type_name(item)));
        }
        out.emplace_back(*item.as_table(), item_path, _ctx);
    }
    return out;
}

void table_reader::finish() const {
    const toml::key* first = nullptr;
    for (auto&& [k, v] : _table) {
        if (_known.contains(k.str())) {
            continue;
        }
        const auto& a = k.source().begin;
        if (first == nullptr || a.line < first->source().begin.line ||
            (a.line == first->source().begin.line && a.column < first->source().begin.column)) {
            first = &k;
        }
    }
    if (first == nullptr) {
        return;
    }
    std::string message = "unknown key";
    std::size_t best = std::numeric_limits<std::size_t>::max();
    std::string suggestion;
    for (const auto& known : _known) {
        std::size_t d = edit_distance(first->str(), known);
        if (d < best) {
            best = d;
            suggestion = known;
        }
    }
    if (!suggestion.empty() && best <= 3) {
        message += " (did you mean \"" + suggestion + "\"?)";
    }
    fail(origin_at(_ctx, key_path(first->str()), first->source()), message);
}

}  // namespace tlsterm::config_detail
