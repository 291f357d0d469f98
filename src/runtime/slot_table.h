// Every object that submits io_uring operations on a shard lives in one
// slot table: client connections and pooled upstream connections alike.
// A submission's user_data names {slot, generation, op}; a slot is freed
// only when its owner is finished (nothing in flight), and its generation
// moves on, so no completion can reach freed memory or a later occupant.
#pragma once

#include <linux/time_types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <tlsterm/address.h>

#include "runtime/buffer_ring.h"
#include "runtime/op_id.h"
#include "runtime/ring.h"

namespace tlsterm::runtime {

// The kind of a submission, the last field of its user_data.
enum class op : uint8_t {
    // connection ops (client and pooled upstream connections)
    client_recv = 1,
    client_send,
    client_ready,  // kernel records: the client's socket readable (its poll)
    upstream_connect,
    connect_timeout,
    upstream_recv,
    upstream_send,
    upstream_ready,
    // a tcp pipe's splices (transport/splice.h): a direction's source
    // readable (its poll), socket -> pipe (fill), pipe -> socket (drain)
    to_upstream_ready,
    to_upstream_fill,
    to_upstream_drain,
    to_client_ready,
    to_client_fill,
    to_client_drain,
    socket_end,  // a stream's shutdown, last words, cancel and close: ignored
    // shard ops
    accept,
    tick,
    control,
    listener_cancel,
    shard_close,  // a refused or stopped socket's close: ignored
};

// What every owner of submissions has in common: its slot and generation
// (the user_data of each SQE) and the count of SQEs whose final completion
// has not arrived (a multishot counts once). Its sockets are
// transport::streams, which submit through it.
class ring_owner {
  public:
    ring_owner(bool client_connection, uring& ring, uint32_t slot, uint32_t generation)
        : _ring(ring),
          _slot(slot),
          _generation(generation),
          _client_connection(client_connection) {}
    virtual ~ring_owner() = default;
    // A client's connection (conn::connection), not a pooled upstream one.
    bool client_connection() const { return _client_connection; }
    uint32_t slot() const { return _slot; }
    virtual void on_completion(op kind, int res, uint32_t flags) = 0;
    // Closing and nothing in flight: the slot may be freed.
    virtual bool finished() const = 0;

    // For the owner and its parts (its streams): the user_data of `kind`,
    // and an SQE tagged with it, counted as in flight.
    uint64_t id(op kind) const {
        return op_id{_slot, _generation, static_cast<uint8_t>(kind)}.encode();
    }
    io_uring_sqe* sqe(op kind) {
        io_uring_sqe* s = _ring.sqe();
        io_uring_sqe_set_data64(s, id(kind));
        ++_inflight;
        return s;
    }

    // Room for `n` SQEs that go together (a poll and its linked splice),
    // so that none is submitted without the others.
    void reserve(unsigned n) { _ring.reserve(n); }

    // A connect of `fd` to `to` with a linked timeout of `timeout_ms`;
    // completes as op::upstream_connect (-ECANCELED on timeout). `timeout`
    // is the caller's and must outlive the submission.
    void connect(int fd, const socket_address& to, uint32_t timeout_ms,
                 __kernel_timespec& timeout) {
        timeout.tv_sec = timeout_ms / 1000;
        timeout.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
        _ring.reserve(2);  // the connect and its linked timeout go together
        io_uring_sqe* c = sqe(op::upstream_connect);
        io_uring_prep_connect(c, fd, to.data(), to.size());
        c->flags |= IOSQE_IO_LINK;
        io_uring_prep_link_timeout(sqe(op::connect_timeout), &timeout, 0);
    }

  protected:
    // Each completion first: the final one of an SQE ends its flight.
    void completed(uint32_t flags) {
        if ((flags & IORING_CQE_F_MORE) == 0) {
            --_inflight;
        }
    }
    uint32_t inflight() const { return _inflight; }

    uring& _ring;

  private:
    uint32_t _slot;
    uint32_t _generation;
    uint32_t _inflight = 0;
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
        _generations[slot] = next_generation(_generations[slot]);
        std::unique_ptr<T> owner = make(slot, _generations[slot]);
        T* raw = owner.get();
        _slots[slot] = std::move(owner);
        ++_used;
        return raw;
    }

    // The live owner `id` was submitted for; nullptr for a stale id.
    ring_owner* find(const op_id& id) const {
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

}  // namespace tlsterm::runtime
