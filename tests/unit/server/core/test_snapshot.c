/*
 * test_snapshot.c - reference-counted snapshots (server/core/snapshot.c):
 * a snapshot outlives its replacement while a reader holds it, and is
 * destroyed once, by the last reference.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "server/core/snapshot.h"

typedef struct thing {
    snapshot base;
    int *destroyed;
} thing;

static void destroy(snapshot *s)
{
    thing *t = (thing *)s;
    (*t->destroyed)++;
    free(t);
}

static thing *new_thing(int *destroyed)
{
    thing *t = calloc(1, sizeof(*t));
    cr_assert_not_null(t);
    snapshot_init(&t->base, destroy);
    t->destroyed = destroyed;
    return t;
}

Test(snapshot, a_reader_keeps_a_replaced_snapshot_until_it_lets_go)
{
    snapshot_slot slot = SNAPSHOT_SLOT_INIT;
    int first = 0, second = 0;
    cr_assert_null(snapshot_current(&slot));
    thing *a = new_thing(&first);
    snapshot_install(&slot, &a->base);
    snapshot *held = snapshot_current(&slot);
    cr_assert_eq(held, &a->base);
    snapshot_install(&slot, &new_thing(&second)->base);
    cr_assert_eq(first, 0, "still held by the reader");
    snapshot_release(held);
    cr_assert_eq(first, 1, "destroyed by the last reference");
    snapshot_install(&slot, NULL);
    cr_assert_eq(second, 1);
    snapshot_release(NULL);
    cr_assert_null(snapshot_current(&slot));
}
