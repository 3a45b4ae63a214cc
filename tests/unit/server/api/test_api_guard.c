/*
 * test_api_guard.c - the operator port guard's decisions
 * (server/api/api_guard.c): which connection a full budget closes to make
 * room, when an address is refused, and when a request is past its
 * deadline and whether it is owed a 408. A wrong choice here lets a slow
 * attacker keep an operator out, or closes an operator's request to keep
 * an attacker's.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "server/api/api_guard.h"
#include "tests/unit/leak_check.h"

static void set_addr(api_guard_conn *c, unsigned char last)
{
    memset(c->addr, 0, sizeof(c->addr));
    c->addr[10] = c->addr[11] = 0xff; /* 127.0.0.last, IPv4-mapped */
    c->addr[12] = 127;
    c->addr[15] = last;
}

/* conns[i] from 127.0.0.addrs[i], ready since since[i] ms. */
static int fill(api_guard_conn *conns, api_guard_conn **live, const unsigned char *addrs,
                const int64_t *since, int n)
{
    for (int i = 0; i < n; i++) {
        conns[i] = (api_guard_conn){.since_ms = since[i], .in_use = 1, .fd = 100 + i};
        set_addr(&conns[i], addrs[i]);
        live[i] = &conns[i];
    }
    return n;
}

static const unsigned char *addr_of(unsigned char last)
{
    static api_guard_conn c;
    set_addr(&c, last);
    return c.addr;
}

TestSuite(api_guard, .fini = leak_check);

Test(api_guard, below_the_budget_a_connection_is_admitted)
{
    api_guard_conn conns[3], *live[3], *victim = NULL;
    int n = fill(conns, live, (const unsigned char[]){2, 2, 3}, (const int64_t[]){1, 2, 3}, 3);
    cr_assert_eq(api_guard_decide(live, n, addr_of(9), 4, 2, &victim), GUARD_ADMIT);
    cr_assert_null(victim);
}

Test(api_guard, an_address_at_its_limit_is_refused_even_below_the_budget)
{
    api_guard_conn conns[3], *live[3], *victim = NULL;
    int n = fill(conns, live, (const unsigned char[]){2, 2, 3}, (const int64_t[]){1, 2, 3}, 3);
    cr_assert_eq(api_guard_decide(live, n, addr_of(2), 100, 2, &victim), GUARD_REFUSE_ADDRESS);
    cr_assert_eq(api_guard_decide(live, n, addr_of(3), 100, 2, &victim), GUARD_ADMIT);
}

Test(api_guard, a_full_budget_closes_the_oldest_of_the_address_with_the_most)
{
    /* 127.0.0.3 has the oldest connection of all, but 127.0.0.2 has more. */
    api_guard_conn conns[6], *live[6], *victim = NULL;
    int n = fill(conns, live, (const unsigned char[]){3, 2, 2, 2, 4, 4},
                 (const int64_t[]){1, 50, 20, 30, 5, 6}, 6);
    cr_assert_eq(api_guard_decide(live, n, addr_of(9), 6, 6, &victim), GUARD_EVICT);
    cr_assert_eq(victim, &conns[2], "the oldest of 127.0.0.2 (since 20), got fd %d", victim->fd);
}

Test(api_guard, between_addresses_with_as_many_the_oldest_goes)
{
    api_guard_conn conns[4], *live[4], *victim = NULL;
    int n =
        fill(conns, live, (const unsigned char[]){2, 2, 3, 3}, (const int64_t[]){10, 11, 7, 40}, 4);
    cr_assert_eq(api_guard_decide(live, n, addr_of(9), 4, 4, &victim), GUARD_EVICT);
    cr_assert_eq(victim, &conns[2]);
}

Test(api_guard, a_connection_being_answered_is_never_closed_to_make_room)
{
    api_guard_conn conns[4], *live[4], *victim = NULL;
    int n =
        fill(conns, live, (const unsigned char[]){2, 2, 2, 3}, (const int64_t[]){1, 2, 3, 4}, 4);
    conns[0].phase = conns[1].phase = GUARD_BUSY;
    cr_assert_eq(api_guard_decide(live, n, addr_of(9), 4, 4, &victim), GUARD_EVICT);
    cr_assert_eq(victim, &conns[2], "the oldest of 127.0.0.2 that is not busy");
    n = fill(conns, live, (const unsigned char[]){2, 2, 2, 3}, (const int64_t[]){1, 2, 3, 4}, 4);
    for (int i = 0; i < 4; i++)
        conns[i].phase = GUARD_BUSY;
    victim = NULL;
    cr_assert_eq(api_guard_decide(live, n, addr_of(9), 4, 4, &victim), GUARD_REFUSE_FULL,
                 "all busy: the newcomer waits for another time");
    cr_assert_null(victim);
}

Test(api_guard, an_address_with_one_connection_keeps_it_while_others_have_more)
{
    /* The operator (127.0.0.9) came last of all; a flood of attackers'
     * connections, each making room, never chooses it. */
    api_guard_conn conns[5], *live[5], *victim = NULL;
    int n = fill(conns, live, (const unsigned char[]){9, 2, 2, 3, 3},
                 (const int64_t[]){1, 100, 101, 102, 103}, 5);
    for (int round = 0; round < 20; round++) {
        cr_assert_eq(api_guard_decide(live, n, addr_of(2), 5, 4, &victim), GUARD_EVICT);
        cr_assert_neq(victim, &conns[0], "round %d closed the operator's connection", round);
        victim->since_ms = 200 + round; /* an attacker's new connection takes its place */
    }
}

Test(api_guard, a_request_is_cut_at_the_deadline_not_before)
{
    api_guard_conn c = {.in_use = 1, .since_ms = 1000, .phase = GUARD_RECEIVING, .served = 3};
    cr_assert_eq(api_guard_expired(&c, 10999, 10000), GUARD_KEEP);
    cr_assert_eq(api_guard_expired(&c, 11000, 10000), GUARD_CUT_408);
    c.phase = GUARD_BUSY;
    cr_assert_eq(api_guard_expired(&c, 99999, 10000), GUARD_KEEP, "being answered: no deadline");
    c.phase = GUARD_RECEIVING;
    c.cut = 1;
    cr_assert_eq(api_guard_expired(&c, 99999, 10000), GUARD_KEEP, "already closing");
    c.cut = 0;
    c.in_use = 0;
    cr_assert_eq(api_guard_expired(&c, 99999, 10000), GUARD_KEEP, "a free slot");
}

Test(api_guard, a_408_is_owed_to_a_request_not_to_an_idle_kept_alive_connection)
{
    api_guard_conn c = {.in_use = 1, .since_ms = 0, .phase = GUARD_WAITING, .served = 0};
    cr_assert_eq(api_guard_expired(&c, 5000, 5000), GUARD_CUT_408,
                 "a new connection whose first request line never came whole");
    c.served = 1;
    cr_assert_eq(api_guard_expired(&c, 5000, 5000), GUARD_CUT_SILENT,
                 "kept alive after an answer and nothing since: just closed");
    c.phase = GUARD_RECEIVING;
    cr_assert_eq(api_guard_expired(&c, 5000, 5000), GUARD_CUT_408, "its next request began");
}

Test(api_guard, libmicrohttpd_gets_room_beyond_the_budget)
{
    api_guard_conf conf = {.budget = 256, .per_address = 16, .deadline_ms = 10000};
    cr_assert_gt(api_guard_mhd_limit(&conf), 256u);
    conf.budget = 1;
    cr_assert_gt(api_guard_mhd_limit(&conf), 1u);
}
