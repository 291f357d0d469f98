#include "tls/identity_cache.h"

#include <cstring>

namespace tlsterm::tls {

std::size_t identity_cache::digest_hash::operator()(const std::array<uint8_t, 32>& d) const {
    std::size_t h = 0;
    std::memcpy(&h, d.data(), sizeof(h));  // a SHA-256: any 8 bytes are uniform
    return h;
}

void identity_cache::insert(std::shared_ptr<const verified_identity> id) {
    if (!id) {
        return;
    }
    stripe& s = stripe_of(id->leaf_sha256);
    std::lock_guard<std::mutex> hold(s.lock);
    if (s.capacity == 0) {
        return;
    }
    if (auto it = s.index.find(id->leaf_sha256); it != s.index.end()) {
        s.order.splice(s.order.begin(), s.order, it->second);
        return;
    }
    s.order.push_front(std::move(id));
    s.index.emplace(s.order.front()->leaf_sha256, s.order.begin());
    trim(s);
}

std::shared_ptr<const verified_identity> identity_cache::find(
    const std::array<uint8_t, 32>& leaf_sha256) {
    stripe& s = stripe_of(leaf_sha256);
    std::lock_guard<std::mutex> hold(s.lock);
    auto it = s.index.find(leaf_sha256);
    if (it == s.index.end()) {
        return nullptr;
    }
    s.order.splice(s.order.begin(), s.order, it->second);
    return *it->second;
}

void identity_cache::set_capacity(std::size_t capacity) {
    for (std::size_t i = 0; i < stripe_count; ++i) {
        stripe& s = _stripes[i];
        std::lock_guard<std::mutex> hold(s.lock);
        // Spread evenly; the first stripes take the remainder.
        s.capacity = capacity / stripe_count + (i < capacity % stripe_count ? 1 : 0);
        trim(s);
    }
}

std::size_t identity_cache::size() {
    std::size_t n = 0;
    for (auto& s : _stripes) {
        std::lock_guard<std::mutex> hold(s.lock);
        n += s.index.size();
    }
    return n;
}

void identity_cache::trim(stripe& s) {
    while (s.index.size() > s.capacity) {
        s.index.erase(s.order.back()->leaf_sha256);
        s.order.pop_back();
    }
}

}  // namespace tlsterm::tls
