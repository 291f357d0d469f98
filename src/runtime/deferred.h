// Work that must not run inside the call that caused it. A pool asked for a
// connection it cannot give does not answer from inside `acquire`: it posts
// a task, and the shard runs every posted task after the completion it is
// handling, with no caller's frame below it.
//
// Tasks are intrusive and owned by the object they call back: posting a
// queued task again is a no-op, and a destroyed task leaves the queue, so a
// task never runs on a dead owner.
#pragma once

#include <cstddef>

namespace tlsterm::runtime {

class deferred_queue;

class deferred_task {
  public:
    deferred_task() = default;
    deferred_task(const deferred_task&) = delete;
    deferred_task& operator=(const deferred_task&) = delete;
    virtual ~deferred_task() { cancel(); }

    bool queued() const { return _queue != nullptr; }
    // Off the queue without running; a no-op when not queued.
    inline void cancel();

  private:
    friend class deferred_queue;
    virtual void run() = 0;

    deferred_task* _prev = nullptr;
    deferred_task* _next = nullptr;
    deferred_queue* _queue = nullptr;
};

// A task that calls `Owner::*Run` on its owner.
template <typename Owner, void (Owner::*Run)()>
class deferred_call final : public deferred_task {
  public:
    explicit deferred_call(Owner& owner) : _owner(owner) {}

  private:
    void run() override { (_owner.*Run)(); }
    Owner& _owner;
};

class deferred_queue {
  public:
    deferred_queue() = default;
    deferred_queue(const deferred_queue&) = delete;
    deferred_queue& operator=(const deferred_queue&) = delete;
    ~deferred_queue() {
        while (_head != nullptr) {
            unlink(*_head);
        }
    }

    // Queues `t` at the tail; a no-op when already queued.
    void post(deferred_task& t) {
        if (t._queue != nullptr) {
            return;
        }
        t._queue = this;
        t._prev = _tail;
        t._next = nullptr;
        (_tail != nullptr ? _tail->_next : _head) = &t;
        _tail = &t;
    }

    // Runs tasks in posting order until none is queued, those posted while
    // running included; returns how many ran.
    std::size_t run() {
        std::size_t n = 0;
        while (_head != nullptr) {
            deferred_task& t = *_head;
            unlink(t);  // before running: the task may post itself again
            t.run();
            ++n;
        }
        return n;
    }

    bool empty() const { return _head == nullptr; }

  private:
    friend class deferred_task;
    void unlink(deferred_task& t) {
        (t._prev != nullptr ? t._prev->_next : _head) = t._next;
        (t._next != nullptr ? t._next->_prev : _tail) = t._prev;
        t._prev = nullptr;
        t._next = nullptr;
        t._queue = nullptr;
    }

    deferred_task* _head = nullptr;
    deferred_task* _tail = nullptr;
};

void deferred_task::cancel() {
    if (_queue != nullptr) {
        _queue->unlink(*this);
    }
}

}  // namespace tlsterm::runtime
