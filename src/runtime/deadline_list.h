// Deadlines for one timeout kind (handshake, idle, a pooled connection's
// response). Every entry of a list gets the same timeout, so appending at
// the tail keeps the list sorted by deadline: schedule, reschedule and
// remove are O(1) and expiry reads the head.
//
// Multishot receives cannot carry linked timeouts, so per-connection
// deadlines live here and the shard's tick expires them. A list is typed by
// the objects on it: what expires is an Owner, never a pointer to cast.
#pragma once

#include <cstdint>

namespace tlsterm::runtime {

template <typename Owner>
class deadline_list;

// An owner's place on one of its deadline lists (on at most one at a time).
// Unlinks itself when destroyed.
template <typename Owner>
class deadline_link {
  public:
    explicit deadline_link(Owner& owner) : _owner(&owner) {}
    deadline_link(const deadline_link&) = delete;
    deadline_link& operator=(const deadline_link&) = delete;
    ~deadline_link() { deadline_list<Owner>::remove(*this); }

    bool scheduled() const { return _list != nullptr; }
    uint64_t deadline_ms() const { return _deadline_ms; }
    Owner& owner() const { return *_owner; }

  private:
    friend class deadline_list<Owner>;
    deadline_link* _prev = nullptr;
    deadline_link* _next = nullptr;
    deadline_list<Owner>* _list = nullptr;
    uint64_t _deadline_ms = 0;
    Owner* _owner;
};

template <typename Owner>
class deadline_list {
  public:
    explicit deadline_list(uint64_t timeout_ms) : _timeout_ms(timeout_ms) {}
    deadline_list(const deadline_list&) = delete;
    deadline_list& operator=(const deadline_list&) = delete;

    uint64_t timeout_ms() const { return _timeout_ms; }

    // (Re)schedules `l` at now + timeout, at the tail, off any other list.
    void schedule(deadline_link<Owner>& l, uint64_t now_ms) {
        remove(l);
        l._deadline_ms = now_ms + _timeout_ms;
        l._list = this;
        l._prev = _tail;
        l._next = nullptr;
        if (_tail != nullptr) {
            _tail->_next = &l;
        } else {
            _head = &l;
        }
        _tail = &l;
    }

    // Off whatever list `l` is on; a no-op when on none.
    static void remove(deadline_link<Owner>& l) {
        deadline_list* list = l._list;
        if (list == nullptr) {
            return;
        }
        (l._prev != nullptr ? l._prev->_next : list->_head) = l._next;
        (l._next != nullptr ? l._next->_prev : list->_tail) = l._prev;
        l._prev = nullptr;
        l._next = nullptr;
        l._list = nullptr;
    }

    // The first entry whose deadline has passed, or null. It stays on the
    // list until removed (or rescheduled).
    deadline_link<Owner>* expired(uint64_t now_ms) const {
        return _head != nullptr && _head->_deadline_ms <= now_ms ? _head : nullptr;
    }

    bool empty() const { return _head == nullptr; }

  private:
    uint64_t _timeout_ms;
    deadline_link<Owner>* _head = nullptr;
    deadline_link<Owner>* _tail = nullptr;
};

}  // namespace tlsterm::runtime
