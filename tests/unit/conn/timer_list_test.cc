#include "conn/timer_list.h"

#include <gtest/gtest.h>

namespace tlsterm::conn {
namespace {

TEST(TimerList, ExpiresInDeadlineOrder) {
    timer_list list(100);
    timer_link a;
    timer_link b;
    timer_link c;
    list.schedule(a, 0);
    list.schedule(b, 10);
    list.schedule(c, 20);
    EXPECT_EQ(list.expired(99), nullptr);
    EXPECT_EQ(list.expired(100), &a);
    timer_list::remove(a);
    EXPECT_EQ(list.expired(115), &b);
    timer_list::remove(b);
    EXPECT_EQ(list.expired(119), nullptr);
    EXPECT_EQ(list.expired(120), &c);
}

TEST(TimerList, RescheduleMovesToTail) {
    timer_list list(100);
    timer_link a;
    timer_link b;
    list.schedule(a, 0);
    list.schedule(b, 10);
    list.schedule(a, 50);  // activity on a
    EXPECT_EQ(list.expired(110), &b);
    timer_list::remove(b);
    EXPECT_EQ(list.expired(149), nullptr);
    EXPECT_EQ(list.expired(150), &a);
}

TEST(TimerList, RemoveIsIdempotentAndKeepsOwner) {
    timer_list list(5);
    int owner = 0;
    timer_link a;
    a.owner = &owner;
    timer_list::remove(a);  // not scheduled: no-op
    list.schedule(a, 0);
    timer_list::remove(a);
    timer_list::remove(a);
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(a.owner, &owner);
}

TEST(TimerList, MovesBetweenLists) {
    timer_list handshake(10);
    timer_list idle(1000);
    timer_link a;
    handshake.schedule(a, 0);
    idle.schedule(a, 5);  // the handshake finished
    EXPECT_TRUE(handshake.empty());
    EXPECT_EQ(idle.expired(1005), &a);
}

}  // namespace
}  // namespace tlsterm::conn
