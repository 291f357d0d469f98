#include "x509/name.h"

#include <algorithm>
#include <array>

#include "x509/der.h"

namespace tlsterm::x509 {

namespace {

struct attribute_name {
    std::array<uint8_t, 3> oid;  // 2.5.4.x
    const char* name;
};
constexpr std::array<attribute_name, 6> attribute_names = {{
    {{0x55, 0x04, 0x06}, "C"},
    {{0x55, 0x04, 0x08}, "ST"},
    {{0x55, 0x04, 0x07}, "L"},
    {{0x55, 0x04, 0x0a}, "O"},
    {{0x55, 0x04, 0x0b}, "OU"},
    {{0x55, 0x04, 0x03}, "CN"},
}};

}  // namespace

namespace {

// Calls fn(oid, value) for each attribute of a DER Name, in order. False
// when `name_der` is not a Name.
template <typename Fn>
bool for_each_attribute(std::span<const uint8_t> name_der, Fn&& fn) {
    der::reader top(name_der);
    auto name = top.next_if(der::tag_sequence);
    if (!name) {
        return false;
    }
    der::reader rdns(name->content);
    while (auto rdn = rdns.next_if(der::tag_set)) {
        der::reader atvs(rdn->content);
        while (auto atv = atvs.next_if(der::tag_sequence)) {
            der::reader fields(atv->content);
            auto oid = fields.next_if(der::tag_oid);
            auto value = fields.next();
            if (oid && value) {
                fn(oid->content, value->content);
            }
        }
    }
    return true;
}

constexpr std::array<uint8_t, 3> oid_common_name = {0x55, 0x04, 0x03};  // 2.5.4.3

std::string text(std::span<const uint8_t> b) {
    return std::string(b.begin(), b.end());
}

}  // namespace

std::string name_to_string(std::span<const uint8_t> name_der) {
    std::string out;
    bool ok = for_each_attribute(name_der, [&](auto oid, auto value) {
        std::string key = "?";
        for (const auto& a : attribute_names) {
            if (std::ranges::equal(oid, a.oid)) {
                key = a.name;
            }
        }
        out += "/" + key + "=" + text(value);
    });
    if (!ok) {
        return "(malformed name)";
    }
    return out.empty() ? "(empty name)" : out;
}

std::string common_name(std::span<const uint8_t> name_der) {
    std::string cn;
    for_each_attribute(name_der, [&](auto oid, auto value) {
        if (std::ranges::equal(oid, oid_common_name)) {
            cn = text(value);
        }
    });
    return cn;
}

}  // namespace tlsterm::x509
