#include "crl/crl_file.h"

#include <algorithm>
#include <array>

#include "common/pem.h"
#include "crl/serial_set.h"
#include "x509/certificate.h"
#include "x509/der.h"

namespace tlsterm::crl {

namespace {

constexpr std::array<uint8_t, 3> oid_crl_number = {0x55, 0x1d, 0x14};           // 2.5.29.20
constexpr std::array<uint8_t, 3> oid_reason_code = {0x55, 0x1d, 0x15};          // 2.5.29.21
constexpr std::array<uint8_t, 3> oid_delta_crl_indicator = {0x55, 0x1d, 0x1b};  // 2.5.29.27

std::vector<uint8_t> integer_value(std::span<const uint8_t> value) {
    der::reader r(value);
    auto i = r.next_if(der::tag_integer);
    if (!i || i->content.empty()) {
        return {};
    }
    auto n = x509::normalize_serial(i->content);
    return {n.begin(), n.end()};
}

bool read_crl_extensions(const der::element& wrapper, crl_summary& out) {
    der::reader outer(wrapper.content);
    auto exts = outer.next_if(der::tag_sequence);
    if (!exts) {
        return false;
    }
    return der::for_each_extension(exts->content, [&](const der::extension& e) {
        if (std::ranges::equal(e.oid, oid_delta_crl_indicator)) {
            out.is_delta = true;
            out.delta_base = integer_value(e.value);
        } else if (std::ranges::equal(e.oid, oid_crl_number)) {
            out.crl_number = integer_value(e.value);
        } else if (std::ranges::equal(e.oid, der::oid_authority_key_id)) {
            // A malformed one is ignored: the issuer is then matched by name.
            if (auto id = der::authority_key_id(e.value)) {
                out.authority_key_id.assign(id->begin(), id->end());
            }
        }
    });
}

// The reasonCode of one entry's crlEntryExtensions, if any.
int entry_reason(der::reader& fields) {
    auto exts = fields.next_if(der::tag_sequence);
    if (!exts) {
        return reason_unspecified;
    }
    int reason = reason_unspecified;
    der::for_each_extension(exts->content, [&](const der::extension& e) {
        if (std::ranges::equal(e.oid, oid_reason_code)) {
            der::reader r(e.value);
            auto v = r.next_if(der::tag_enumerated);
            if (v && v->content.size() == 1) {
                reason = v->content[0];
            }
        }
    });
    return reason;
}

}  // namespace

std::expected<crl_summary, std::string> inspect_crl_der(std::span<const uint8_t> der,
                                                        const serial_visitor& on_serial) {
    der::reader top(der);
    auto cert_list = top.next_if(der::tag_sequence);
    if (!cert_list) {
        return std::unexpected("not a DER CertificateList (expected a SEQUENCE)");
    }
    if (!top.empty()) {
        return std::unexpected("trailing bytes after the CRL");
    }
    der::reader cl(cert_list->content);
    auto tbs = cl.next_if(der::tag_sequence);
    auto sig_alg = cl.next_if(der::tag_sequence);
    auto sig = cl.next_if(der::tag_bit_string);
    if (!tbs || !sig_alg || !sig || !cl.empty()) {
        return std::unexpected("not a CertificateList (tbsCertList, algorithm, signature)");
    }

    der::reader t(tbs->content);
    crl_summary out;
    out.tbs_der = tbs->whole;
    {
        der::reader alg(sig_alg->content);
        auto oid = alg.next_if(der::tag_oid);
        if (!oid) {
            return std::unexpected("malformed signatureAlgorithm");
        }
        out.signature_algorithm.assign(oid->content.begin(), oid->content.end());
        if (sig->content.empty() || sig->content[0] != 0) {
            return std::unexpected("malformed signatureValue");
        }
        out.signature.assign(sig->content.begin() + 1, sig->content.end());
    }
    if (auto version = t.next_if(der::tag_integer)) {
        if (version->content.size() != 1 || version->content[0] != 1) {
            return std::unexpected("unsupported CRL version (only v2 has a version field)");
        }
    }
    if (!t.next_if(der::tag_sequence)) {
        return std::unexpected("missing signature algorithm in tbsCertList");
    }
    auto issuer = t.next_if(der::tag_sequence);
    if (!issuer) {
        return std::unexpected("missing issuer name");
    }
    out.issuer_der.assign(issuer->whole.begin(), issuer->whole.end());

    auto this_update = t.next();
    auto this_time = this_update ? der::parse_time(*this_update) : std::nullopt;
    if (!this_time) {
        return std::unexpected("missing or malformed thisUpdate");
    }
    out.this_update = *this_time;
    auto tag = t.peek_tag();
    if (tag == der::tag_utc_time || tag == der::tag_generalized_time) {
        auto next_time = der::parse_time(*t.next());
        if (!next_time) {
            return std::unexpected("malformed nextUpdate");
        }
        out.next_update = *next_time;
    }
    if (auto revoked = t.next_if(der::tag_sequence)) {
        der::reader entries(revoked->content);
        while (!entries.empty()) {
            auto entry = entries.next_if(der::tag_sequence);
            if (!entry) {
                return std::unexpected("malformed revokedCertificates entry " +
                                       std::to_string(out.revoked_count + 1));
            }
            der::reader fields(entry->content);
            auto serial = fields.next_if(der::tag_integer);
            auto when = fields.next();
            if (!serial || serial->content.empty() || serial->content.size() > 64 || !when ||
                !der::parse_time(*when)) {
                return std::unexpected("malformed revokedCertificates entry " +
                                       std::to_string(out.revoked_count + 1));
            }
            if (on_serial) {
                on_serial(serial->content, entry_reason(fields));
            }
            ++out.revoked_count;
        }
    }
    if (auto exts = t.next_if(der::tag_context_0)) {
        if (!read_crl_extensions(*exts, out)) {
            return std::unexpected("malformed crlExtensions");
        }
    }
    if (out.is_delta && out.delta_base.empty()) {
        return std::unexpected("deltaCRLIndicator without a base CRL number");
    }
    if (!t.empty()) {
        return std::unexpected("unexpected fields at the end of tbsCertList");
    }
    return out;
}

int compare_crl_numbers(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    a = x509::normalize_serial(a);
    b = x509::normalize_serial(b);
    if (a.size() != b.size()) {
        return a.size() < b.size() ? -1 : 1;
    }
    auto [ia, ib] = std::ranges::mismatch(a, b);
    if (ia == a.end()) {
        return 0;
    }
    return *ia < *ib ? -1 : 1;
}

std::expected<crl_ders, std::string> split_crl_file(std::string_view data) {
    crl_ders out;
    out.pem = pem::looks_like_pem(data);
    if (!out.pem) {
        out.ders.emplace_back(reinterpret_cast<const uint8_t*>(data.data()), data.size());
        return out;
    }
    auto blocks = pem::decode_all(data);
    if (!blocks) {
        return std::unexpected(blocks.error());
    }
    for (std::size_t i = 0; i < blocks->size(); ++i) {
        auto& b = (*blocks)[i];
        if (b.label != "X509 CRL") {
            return std::unexpected("PEM block " + std::to_string(i + 1) + " is \"" + b.label +
                                   "\", expected X509 CRL");
        }
        out.decoded.push_back(std::move(b.der));
    }
    if (out.decoded.empty()) {
        return std::unexpected("no X509 CRL block in the file");
    }
    out.ders.assign(out.decoded.begin(), out.decoded.end());
    return out;
}

std::string crl_ders::name(std::size_t i) const {
    if (!pem) {
        return "DER CRL";
    }
    return "CRL " + std::to_string(i + 1);
}

std::expected<std::vector<crl_summary>, std::string> inspect_crl_file(std::string_view data) {
    auto split = split_crl_file(data);
    if (!split) {
        return std::unexpected(split.error());
    }
    std::vector<crl_summary> out;
    for (std::size_t i = 0; i < split->ders.size(); ++i) {
        auto one = inspect_crl_der(split->ders[i]);
        if (!one) {
            return std::unexpected(split->name(i) + ": " + one.error());
        }
        one->tbs_der = {};  // points into this function's PEM decoding
        out.push_back(std::move(*one));
    }
    return out;
}

}  // namespace tlsterm::crl
