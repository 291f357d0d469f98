#include "crl/crl_file.h"

#include <algorithm>
#include <array>

#include "common/pem.h"
#include "crl/der.h"

namespace tlsterm::crl {

namespace {

// 2.5.29.27 deltaCRLIndicator
constexpr std::array<uint8_t, 3> oid_delta_crl_indicator = {0x55, 0x1d, 0x1b};

bool extensions_mark_delta(const der::element& wrapper) {
    der::reader outer(wrapper.content);
    auto exts = outer.next_if(der::tag_sequence);
    if (!exts) {
        return false;
    }
    der::reader list(exts->content);
    while (auto ext = list.next_if(der::tag_sequence)) {
        der::reader fields(ext->content);
        auto oid = fields.next_if(der::tag_oid);
        if (oid && std::ranges::equal(oid->content, oid_delta_crl_indicator)) {
            return true;
        }
    }
    return false;
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
    out.tbs_der.assign(tbs->whole.begin(), tbs->whole.end());
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
                on_serial(serial->content);
            }
            ++out.revoked_count;
        }
    }
    if (auto exts = t.next_if(der::tag_context_0)) {
        out.is_delta = extensions_mark_delta(*exts);
    }
    if (!t.empty()) {
        return std::unexpected("unexpected fields at the end of tbsCertList");
    }
    return out;
}

std::expected<std::vector<crl_summary>, std::string> inspect_crl_file(std::string_view data) {
    std::vector<crl_summary> out;
    if (!pem::looks_like_pem(data)) {
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size());
        auto one = inspect_crl_der(bytes);
        if (!one) {
            return std::unexpected("DER CRL: " + one.error());
        }
        out.push_back(std::move(*one));
        return out;
    }
    auto blocks = pem::decode_all(data);
    if (!blocks) {
        return std::unexpected(blocks.error());
    }
    for (std::size_t i = 0; i < blocks->size(); ++i) {
        const auto& b = (*blocks)[i];
        if (b.label != "X509 CRL") {
            return std::unexpected("PEM block " + std::to_string(i + 1) + " is \"" + b.label +
                                   "\", expected X509 CRL");
        }
        auto one = inspect_crl_der(b.der);
        if (!one) {
            return std::unexpected("CRL " + std::to_string(i + 1) + ": " + one.error());
        }
        out.push_back(std::move(*one));
    }
    if (out.empty()) {
        return std::unexpected("no X509 CRL block in the file");
    }
    return out;
}

}  // namespace tlsterm::crl
