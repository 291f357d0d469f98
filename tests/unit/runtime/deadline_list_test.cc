#include "runtime/deadline_list.h"

#include <gtest/gtest.h>

namespace tlsterm::runtime {
namespace {

struct item {
    int id = 0;
    deadline_link<item> link{*this};
};
using items = deadline_list<item>;

TEST(DeadlineList, ExpiresInDeadlineOrder) {
    items list(100);
    item a{1};
    item b{2};
    item c{3};
    list.schedule(a.link, 0);
    list.schedule(b.link, 10);
    list.schedule(c.link, 20);
    EXPECT_EQ(list.expired(99), nullptr);
    deadline_link<item>* first = list.expired(100);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first, &a.link);
    EXPECT_EQ(first->owner().id, 1);
    items::remove(a.link);
    EXPECT_EQ(list.expired(115), &b.link);
    items::remove(b.link);
    EXPECT_EQ(list.expired(119), nullptr);
    EXPECT_EQ(list.expired(120), &c.link);
}

TEST(DeadlineList, RescheduleMovesToTail) {
    items list(100);
    item a;
    item b;
    list.schedule(a.link, 0);
    list.schedule(b.link, 10);
    list.schedule(a.link, 50);  // activity on a
    EXPECT_EQ(list.expired(110), &b.link);
    items::remove(b.link);
    EXPECT_EQ(list.expired(149), nullptr);
    EXPECT_EQ(list.expired(150), &a.link);
    EXPECT_EQ(a.link.deadline_ms(), 150u);
}

TEST(DeadlineList, RemoveIsIdempotentAndKeepsOwner) {
    items list(5);
    item a{7};
    items::remove(a.link);  // not scheduled: no-op
    list.schedule(a.link, 0);
    EXPECT_TRUE(a.link.scheduled());
    items::remove(a.link);
    items::remove(a.link);
    EXPECT_TRUE(list.empty());
    EXPECT_FALSE(a.link.scheduled());
    EXPECT_EQ(&a.link.owner(), &a);
}

TEST(DeadlineList, MovesBetweenLists) {
    items handshake(10);
    items idle(1000);
    item a;
    handshake.schedule(a.link, 0);
    idle.schedule(a.link, 5);  // the handshake finished
    EXPECT_TRUE(handshake.empty());
    EXPECT_EQ(idle.expired(1005), &a.link);
}

TEST(DeadlineList, DestroyedOwnerLeavesTheList) {
    items list(10);
    item a;
    {
        item b;
        list.schedule(a.link, 0);
        list.schedule(b.link, 1);
    }
    items::remove(a.link);
    EXPECT_TRUE(list.empty());
}

}  // namespace
}  // namespace tlsterm::runtime
