// Every object that submits io_uring operations on a shard lives in one
// slot table: client connections and pooled upstream connections alike.
// A submission's user_data names {slot, generation, op}; a slot is freed
// only when its owner is finished (nothing in flight), and its generation
// moves on, so no completion can reach freed memory or a later occupant.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ring/op_id.h"

namespace tlsterm::conn {

enum class op : uint8_t;

class ring_owner {
  public:
    explicit ring_owner(bool client_connection) : _client_connection(client_connection) {}
    virtual ~ring_owner() = default;
    // A client's connection (conn::connection), not a pooled upstream one.
    bool client_connection() const { return _client_connection; }
    virtual void on_completion(op kind, int res, uint32_t flags) = 0;
    // Closing and nothing in flight: the slot may be freed.
    virtual bool finished() const = 0;

  private:
    bool _client_connection;
};

class slot_table {
  public:
    // Creates an owner in a free slot: `make(slot, generation)` returns
    // std::unique_ptr<T>.
    template <typename T, typename Make>
    T* emplace(Make&& make) {
        uint32_t slot;
        if (!_free.empty()) {
            slot = _free.back();
            _free.pop_back();
        } else {
            slot = static_cast<uint32_t>(_slots.size());
            _slots.emplace_back();
            _generations.push_back(0);
        }
        _generations[slot] = ring::next_generation(_generations[slot]);
        std::unique_ptr<T> owner = make(slot, _generations[slot]);
        T* raw = owner.get();
        _slots[slot] = std::move(owner);
        ++_used;
        return raw;
    }

    // The live owner `id` was submitted for; nullptr for a stale id.
    ring_owner* find(const ring::op_id& id) const {
        if (id.slot >= _slots.size() || !_slots[id.slot] ||
            _generations[id.slot] != id.generation) {
            return nullptr;
        }
        return _slots[id.slot].get();
    }

    ring_owner* find_slot(uint32_t slot) const {
        return slot < _slots.size() ? _slots[slot].get() : nullptr;
    }

    // Frees `slot` when its owner is finished; true when it did.
    bool release_if_finished(uint32_t slot) {
        if (slot < _slots.size() && _slots[slot] && _slots[slot]->finished()) {
            _slots[slot].reset();
            _free.push_back(slot);
            --_used;
            return true;
        }
        return false;
    }

    std::size_t used() const { return _used; }

    template <typename F>
    void for_each(F&& f) const {
        for (const auto& s : _slots) {
            if (s) {
                f(*s);
            }
        }
    }

  private:
    std::vector<std::unique_ptr<ring_owner>> _slots;
    std::vector<uint32_t> _generations;
    std::vector<uint32_t> _free;
    std::size_t _used = 0;
};

}  // namespace tlsterm::conn
