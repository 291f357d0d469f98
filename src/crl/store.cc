#include "crl/store.h"

#include <algorithm>

#include "crl/crl_file.h"
#include "x509/name.h"

namespace tlsterm::crl {

namespace {

std::string key_of(const std::vector<uint8_t>& der) {
    return std::string(der.begin(), der.end());
}

// Newer of two CRLs of the same kind: the higher cRLNumber, else the later
// thisUpdate.
bool newer(const loaded_crl& a, const loaded_crl& b) {
    if (!a.number.empty() && !b.number.empty()) {
        int c = compare_crl_numbers(a.number, b.number);
        if (c != 0) {
            return c > 0;
        }
    }
    return a.this_update > b.this_update;
}

// A delta applies to a base whose number is at least the delta's base
// number, and is of no use once the base is as new as the delta.
bool applies_to(const loaded_crl& delta, const loaded_crl& base) {
    if (base.number.empty()) {
        return false;
    }
    return compare_crl_numbers(base.number, delta.delta_base) >= 0 &&
           (delta.number.empty() || compare_crl_numbers(delta.number, base.number) > 0);
}

}  // namespace

std::expected<trusted_ca, std::string> make_trusted_ca(std::span<const uint8_t> der) {
    auto cert = x509::parse_certificate(der);
    if (!cert) {
        return std::unexpected(cert.error());
    }
    return trusted_ca{std::move(*cert)};
}

std::expected<crl_list, std::string> load_crls(std::string_view data, std::string_view source,
                                               std::span<const trusted_ca> cas,
                                               bool index_serials) {
    // One pass per CRL: the structural read streams the serials straight
    // into the sets; attribution and the signature check follow.
    auto split = split_crl_file(data);
    if (!split) {
        return std::unexpected("not a valid CRL: " + split.error());
    }
    const auto& ders = split->ders;
    crl_list out;
    for (std::size_t i = 0; i < ders.size(); ++i) {
        std::string which = ders.size() > 1 ? "CRL " + std::to_string(i + 1) + ": " : "";
        // About 35 octets per entry in practice; reserving address space for
        // more costs nothing until it is touched, growing costs copies.
        serial_set::builder revoked(index_serials ? ders[i].size() / 24 : 0);
        // removeFromCRL entries: whether the CRL is a delta is only known
        // from its extensions, which follow the entries.
        std::vector<std::vector<uint8_t>> removals;
        auto parsed = inspect_crl_der(ders[i], [&](std::span<const uint8_t> serial, int reason) {
            if (!index_serials) {
                return;
            }
            if (reason == reason_remove_from_crl) {
                removals.emplace_back(serial.begin(), serial.end());
            } else {
                revoked.add(serial);
            }
        });
        if (!parsed) {
            return std::unexpected("not a valid CRL: " + split->name(i) + ": " + parsed.error());
        }
        const crl_summary& s = *parsed;
        std::optional<std::size_t> ca;
        std::string why;
        bool issuer_known = false;
        for (std::size_t c = 0; c < cas.size() && !ca; ++c) {
            const auto& candidate = cas[c];
            if (candidate.cert.subject_der != s.issuer_der) {
                continue;
            }
            if (!s.authority_key_id.empty() && !candidate.cert.subject_key_id.empty() &&
                s.authority_key_id != candidate.cert.subject_key_id) {
                continue;
            }
            issuer_known = true;
            if (auto ok = verify_crl_signature(s, candidate.cert)) {
                ca = c;
            } else {
                why = ok.error();
            }
        }
        if (!issuer_known) {
            return std::unexpected(which + "issued by " + x509::name_to_string(s.issuer_der) +
                                   ", which is not a CA in ca_files");
        }
        if (!ca) {
            return std::unexpected(which + why);
        }
        auto crl = std::make_shared<loaded_crl>();
        crl->source =
            std::string(source) + (ders.size() > 1 ? " (CRL " + std::to_string(i + 1) + ")" : "");
        crl->ca = *ca;
        crl->this_update = s.this_update;
        crl->next_update = s.next_update;
        crl->number = s.crl_number;
        crl->is_delta = s.is_delta;
        crl->delta_base = s.delta_base;
        crl->entries = s.revoked_count;
        // removeFromCRL only has a meaning in a delta (RFC 5280 5.3.1); in a
        // base CRL the entry stays a revocation rather than be dropped.
        serial_set::builder removed;
        for (const auto& r : removals) {
            (s.is_delta ? removed : revoked).add(r);
        }
        crl->revoked = std::move(revoked).build();
        crl->removed = std::move(removed).build();
        out.push_back(std::move(crl));
    }
    return out;
}

std::shared_ptr<const store> store::build(ca_list cas, const crl_list& crls) {
    auto s = std::shared_ptr<store>(new store());
    s->_cas = std::move(cas);
    s->_in_force.resize(s->_cas->size());
    for (std::size_t i = 0; i < s->_cas->size(); ++i) {
        s->_by_subject.emplace(key_of((*s->_cas)[i].cert.subject_der), i);
    }
    for (const auto& c : crls) {
        if (c->ca >= s->_in_force.size()) {
            continue;
        }
        auto& f = s->_in_force[c->ca];
        if (!c->is_delta && (f.base == nullptr || newer(*c, *f.base))) {
            f.base = c.get();
        }
    }
    for (const auto& c : crls) {
        if (c->ca >= s->_in_force.size() || !c->is_delta) {
            continue;
        }
        auto& f = s->_in_force[c->ca];
        if (f.base != nullptr && applies_to(*c, *f.base) &&
            (f.delta == nullptr || newer(*c, *f.delta))) {
            f.delta = c.get();
        }
    }
    s->_crls = crls;
    return s;
}

std::optional<std::size_t> store::find_issuer(const x509::certificate& c) const {
    auto [first, last] = _by_subject.equal_range(key_of(c.issuer_der));
    std::optional<std::size_t> by_name;
    for (auto it = first; it != last; ++it) {
        const auto& ca = (*_cas)[it->second].cert;
        if (!c.authority_key_id.empty() && !ca.subject_key_id.empty()) {
            if (c.authority_key_id == ca.subject_key_id) {
                return it->second;
            }
            continue;
        }
        by_name = by_name ? by_name : std::optional(it->second);
    }
    return by_name;
}

std::optional<std::time_t> store::next_update(std::size_t ca) const {
    const auto& f = _in_force[ca];
    std::optional<std::time_t> t;
    for (const loaded_crl* c : {f.base, f.delta}) {
        if (c != nullptr && c->next_update) {
            t = t ? std::min(*t, *c->next_update) : *c->next_update;
        }
    }
    return t;
}

store::answer store::check(std::size_t ca, std::span<const uint8_t> serial) const {
    const auto& f = _in_force[ca];
    if (f.base == nullptr) {
        return {status::no_crl, nullptr};
    }
    if (f.delta != nullptr) {
        if (f.delta->revoked.contains(serial)) {
            return {status::revoked, f.delta};
        }
        if (f.delta->removed.contains(serial)) {
            return {status::good, f.delta};
        }
    }
    if (f.base->revoked.contains(serial)) {
        return {status::revoked, f.base};
    }
    return {status::good, f.base};
}

std::size_t store::total_entries() const {
    std::size_t n = 0;
    for (const auto& f : _in_force) {
        n += (f.base ? f.base->entries : 0) + (f.delta ? f.delta->entries : 0);
    }
    return n;
}

std::size_t store::memory_bytes() const {
    std::size_t n = 0;
    for (const auto& c : _crls) {
        n += c->revoked.memory_bytes() + c->removed.memory_bytes();
    }
    return n;
}

}  // namespace tlsterm::crl
