// Deadlines for one timeout kind (handshake, idle). Every entry of a list
// gets the same timeout, so appending at the tail keeps the list sorted by
// deadline: insert, touch and remove are O(1) and expiry pops from the head.
//
// Multishot receives cannot carry linked timeouts, so per-connection
// handshake and idle deadlines live here and the shard's tick expires them.
#pragma once

#include <cstdint>

namespace tlsterm::conn {

class timer_list;

struct timer_link {
    timer_link* prev = nullptr;
    timer_link* next = nullptr;
    timer_list* list = nullptr;
    uint64_t deadline_ms = 0;
    void* owner = nullptr;  // the object this deadline belongs to
};

class timer_list {
  public:
    explicit timer_list(uint64_t timeout_ms) : _timeout_ms(timeout_ms) {}
    timer_list(const timer_list&) = delete;
    timer_list& operator=(const timer_list&) = delete;

    uint64_t timeout_ms() const { return _timeout_ms; }

    // (Re)schedules `l` at now + timeout, at the tail.
    void schedule(timer_link& l, uint64_t now_ms) {
        remove(l);
        l.deadline_ms = now_ms + _timeout_ms;
        l.list = this;
        l.prev = _tail;
        l.next = nullptr;
        if (_tail != nullptr) {
            _tail->next = &l;
        } else {
            _head = &l;
        }
        _tail = &l;
    }

    static void remove(timer_link& l) {
        timer_list* list = l.list;
        if (list == nullptr) {
            return;
        }
        (l.prev != nullptr ? l.prev->next : list->_head) = l.next;
        (l.next != nullptr ? l.next->prev : list->_tail) = l.prev;
        l.prev = nullptr;
        l.next = nullptr;
        l.list = nullptr;
    }

    // The first entry whose deadline has passed, or null.
    timer_link* expired(uint64_t now_ms) const {
        return _head != nullptr && _head->deadline_ms <= now_ms ? _head : nullptr;
    }

    bool empty() const { return _head == nullptr; }

  private:
    uint64_t _timeout_ms;
    timer_link* _head = nullptr;
    timer_link* _tail = nullptr;
};

}  // namespace tlsterm::conn
