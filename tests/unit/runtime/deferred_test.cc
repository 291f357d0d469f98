#include "runtime/deferred.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace tlsterm::runtime {
namespace {

struct recorder {
    std::vector<int>* log = nullptr;
    int id = 0;
    deferred_queue* queue = nullptr;
    int again = 0;  // times to post itself again from inside run
    void fire() {
        log->push_back(id);
        if (again > 0) {
            --again;
            queue->post(task);
        }
    }
    deferred_call<recorder, &recorder::fire> task{*this};
};

TEST(DeferredQueue, RunsInPostingOrderOnlyWhenAsked) {
    deferred_queue q;
    std::vector<int> log;
    recorder a{&log, 1};
    recorder b{&log, 2};
    q.post(b.task);
    q.post(a.task);
    q.post(b.task);  // already queued: once
    EXPECT_TRUE(log.empty());
    EXPECT_TRUE(a.task.queued());
    EXPECT_EQ(q.run(), 2u);
    EXPECT_EQ(log, (std::vector<int>{2, 1}));
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(a.task.queued());
}

TEST(DeferredQueue, TasksPostedWhileRunningRunInTheSamePass) {
    deferred_queue q;
    std::vector<int> log;
    recorder a{&log, 1, &q, 2};
    q.post(a.task);
    EXPECT_EQ(q.run(), 3u);
    EXPECT_EQ(log, (std::vector<int>{1, 1, 1}));
}

TEST(DeferredQueue, CancelledAndDestroyedTasksNeverRun) {
    deferred_queue q;
    std::vector<int> log;
    recorder a{&log, 1};
    auto b = std::make_unique<recorder>();
    b->log = &log;
    b->id = 2;
    recorder c{&log, 3};
    q.post(a.task);
    q.post(b->task);
    q.post(c.task);
    a.task.cancel();
    a.task.cancel();  // not queued: no-op
    b.reset();
    EXPECT_EQ(q.run(), 1u);
    EXPECT_EQ(log, (std::vector<int>{3}));
}

}  // namespace
}  // namespace tlsterm::runtime
