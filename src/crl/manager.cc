#include "crl/manager.h"

#include <algorithm>
#include <chrono>

#include "common/file.h"
#include "common/log.h"
#include "common/watch.h"
#include "crl/fetch.h"

namespace tlsterm::crl {

namespace {

// The shortest wait between two downloads of one URL, whatever the CRL says
// (a CRL already past its nextUpdate would otherwise be fetched in a loop),
// unless refresh_interval_s itself is shorter.
constexpr std::time_t max_fetch_gap_s = 30;

}  // namespace

struct manager::source {
    std::string name;  // path or URL
    bool is_url = false;
    crl_list crls;  // last good
    source_status status;
    // Files: the content at the last read.
    std::optional<file_watch> watch;
    // URLs: when to fetch next, and the current backoff.
    std::time_t due = 0;
    std::time_t backoff = 0;
};

namespace {

bool same_cas(const std::vector<trusted_ca>& a, const std::vector<trusted_ca>& b) {
    return std::ranges::equal(a, b, [](const trusted_ca& x, const trusted_ca& y) {
        return x.cert.subject_der == y.cert.subject_der && x.cert.spki_der == y.cert.spki_der &&
               x.cert.serial == y.cert.serial;
    });
}

}  // namespace

std::vector<manager::carried> manager::carry() const {
    std::lock_guard lock(_mutex);
    return _carried;
}

std::expected<std::unique_ptr<manager>, std::string> manager::create(const config& cfg,
                                                                     store::ca_list cas,
                                                                     bool fetch_urls,
                                                                     const manager* previous) {
    std::unique_ptr<manager> m(new manager());
    m->_cas = std::move(cas);
    m->_options = cfg.crl;
    auto add = [&](const std::string& name, bool is_url) {
        for (const auto& s : m->_sources) {
            if (s->name == name) {
                return;
            }
        }
        auto s = std::make_unique<source>();
        s->name = name;
        s->is_url = is_url;
        s->status.name = name;
        m->_sources.push_back(std::move(s));
    };
    bool distribution_points = false;
    for (const auto& l : cfg.listeners) {
        for (const auto& f : l.tls.crl_files) {
            add(f.path.string(), false);
        }
        for (const auto& u : l.tls.crl_urls) {
            add(u.url, true);
        }
        distribution_points = distribution_points || l.tls.crl_distribution_points;
    }
    if (distribution_points) {
        // A CA certificate's distribution points name where its issuer
        // publishes the CRL that covers it.
        for (const auto& ca : *m->_cas) {
            for (const auto& url : ca.cert.crl_urls) {
                add(url, true);
            }
        }
    }
    std::vector<carried> before;
    if (previous != nullptr && same_cas(*previous->_cas, *m->_cas)) {
        before = previous->carry();
    }
    std::time_t now = std::time(nullptr);
    for (auto& s : m->_sources) {
        auto it = std::ranges::find_if(before, [&](const carried& c) { return c.name == s->name; });
        if (it != before.end() && (s->is_url || (it->watch && !it->watch->changed()))) {
            s->crls = std::move(it->crls);
            s->status = std::move(it->status);
            s->due = it->due;
            s->backoff = it->backoff;
            s->watch = std::move(it->watch);
            continue;
        }
        if (s->is_url && !fetch_urls) {
            continue;
        }
        m->load(*s, now);
        if (!s->is_url && !s->status.last_error.empty()) {
            return std::unexpected("CRL " + s->name + ": " + s->status.last_error);
        }
    }
    m->publish();
    return m;
}

manager::~manager() {
    stop();
}

std::time_t manager::fetch_gap() const {
    return std::min<std::time_t>(max_fetch_gap_s, _options.refresh_interval_s);
}

bool manager::load(source& s, std::time_t now) {
    const auto started = std::chrono::steady_clock::now();
    s.status.last_attempt = now;
    std::expected<std::string, std::string> data;
    if (s.is_url) {
        data = http_get(s.name, _options.fetch_timeout_ms, _options.max_bytes);
    } else {
        s.watch.emplace(s.name);  // before the read: a change during it is seen next time
        data = read_file(s.name, _options.max_bytes);
    }
    std::expected<crl_list, std::string> crls =
        data ? load_crls(*data, s.name, *_cas) : std::unexpected(data.error());
    if (!crls) {
        s.status.last_error = crls.error();
        _failures.fetch_add(1, std::memory_order_relaxed);
        if (s.is_url) {
            s.backoff = std::clamp<std::time_t>(
                s.backoff * 2, fetch_gap(),
                std::max<std::time_t>(_options.refresh_interval_s, fetch_gap()));
            s.due = now + s.backoff;
        }
        TLSTERM_LOG(log_level::error, "CRL %s: %s%s", s.name.c_str(), crls.error().c_str(),
                    s.crls.empty() ? "" : "; keeping the CRLs loaded before");
        return false;
    }
    s.crls = std::move(*crls);
    s.status.last_error.clear();
    s.status.last_success = now;
    s.status.crls = s.crls.size();
    s.status.entries = 0;
    s.status.this_update = 0;
    s.status.next_update.reset();
    for (const auto& c : s.crls) {
        s.status.entries += c->entries;
        s.status.this_update = std::max(s.status.this_update, c->this_update);
        if (c->next_update) {
            s.status.next_update = s.status.next_update
                                       ? std::min(*s.status.next_update, *c->next_update)
                                       : *c->next_update;
        }
    }
    if (s.is_url) {
        s.backoff = 0;
        std::time_t due = now + _options.refresh_interval_s;
        if (s.status.next_update) {
            // Fetch ahead of nextUpdate by a tenth of the CRL's period (at
            // most an hour), so a CA that publishes on time never goes stale.
            std::time_t period =
                std::max<std::time_t>(*s.status.next_update - s.status.this_update, 0);
            due = std::min(due, *s.status.next_update - std::min<std::time_t>(period / 10, 3600));
        }
        s.due = std::max(due, now + fetch_gap());
    }
    _reloads.fetch_add(1, std::memory_order_relaxed);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    TLSTERM_LOG(log_level::info,
                "CRL %s: %zu CRL(s), %zu entries, thisUpdate %s, nextUpdate %s, loaded in %lld ms",
                s.name.c_str(), s.crls.size(), s.status.entries,
                log::utc(s.status.this_update).c_str(),
                s.status.next_update ? log::utc(*s.status.next_update).c_str() : "none",
                static_cast<long long>(ms));
    return true;
}

void manager::publish() {
    crl_list all;
    std::vector<source_status> status;
    std::vector<carried> carry;
    for (const auto& s : _sources) {
        all.insert(all.end(), s->crls.begin(), s->crls.end());
        status.push_back(s->status);
        carry.push_back({s->name, s->crls, s->status, s->due, s->backoff, s->watch});
    }
    auto next = store::build(_cas, all);
    {
        std::lock_guard lock(_mutex);
        _current = std::move(next);
        _status = std::move(status);
        _carried = std::move(carry);
    }
    _generation.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const store> manager::current() const {
    std::lock_guard lock(_mutex);
    return _current;
}

std::vector<source_status> manager::status() const {
    std::lock_guard lock(_mutex);
    return _status;
}

const std::shared_ptr<const store>& manager::reader::current() {
    uint64_t g = _m->generation();
    if (g != _generation || !_store) {
        _store = _m->current();
        _generation = g;
    }
    return _store;
}

void manager::request_reload() {
    {
        std::lock_guard lock(_mutex);
        _reload_requested = true;
    }
    _wake.notify_one();
}

void manager::start() {
    if (_sources.empty() || _thread.joinable()) {
        return;
    }
    _thread = std::thread([this] { run(); });
}

void manager::stop() {
    {
        std::lock_guard lock(_mutex);
        _stop = true;
    }
    _wake.notify_one();
    if (_thread.joinable()) {
        _thread.join();
    }
}

void manager::run() {
    std::time_t next_file_check = std::time(nullptr) + _options.check_interval_s;
    for (;;) {
        bool forced = false;
        {
            std::unique_lock lock(_mutex);
            std::time_t now = std::time(nullptr);
            std::time_t wake = _options.check_interval_s > 0 ? next_file_check : now + 3600;
            for (const auto& s : _sources) {
                if (s->is_url) {
                    wake = std::min(wake, s->due);
                }
            }
            auto until = std::chrono::system_clock::from_time_t(std::max(wake, now));
            _wake.wait_until(lock, until, [&] { return _stop || _reload_requested; });
            if (_stop) {
                return;
            }
            forced = _reload_requested;
            _reload_requested = false;
        }
        std::time_t now = std::time(nullptr);
        bool check_files = forced || (_options.check_interval_s > 0 && now >= next_file_check);
        if (check_files) {
            next_file_check = now + _options.check_interval_s;
        }
        bool changed = false;
        for (auto& s : _sources) {
            if (s->is_url) {
                if (forced || now >= s->due) {
                    changed = load(*s, now) || changed;
                }
                continue;
            }
            if (!check_files) {
                continue;
            }
            if (!s->watch || s->watch->changed()) {
                changed = load(*s, now) || changed;
            }
        }
        if (changed || forced) {
            publish();
        }
    }
}

}  // namespace tlsterm::crl
