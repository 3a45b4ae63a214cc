/*
 * test_reg_view.c - the in-memory registry's decisions (server/registry/reg_view.c):
 * verdicts for each certificate state, the ordering rule between NOTIFYs and
 * miss lookups, full reloads with replay, the request budget and the
 * new-network detection; device classes, tags and the offered rollout.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/registry/reg_view.h"

static void fp_of(int n, uint8_t fp[REG_FP_LEN])
{
    memset(fp, 0, REG_FP_LEN);
    fp[0] = (uint8_t)n;
    fp[1] = (uint8_t)(n >> 8);
    fp[2] = (uint8_t)(n >> 16);
    fp[31] = 0x5a;
}

static reg_cert_row active_row(const char *device)
{
    reg_cert_row r = {1, device, 1, time(NULL) + 3600, "active", NULL};
    return r;
}

static void setup(void)
{
    cr_assert_eq(reg_view_init(), 0);
}

static void teardown(void)
{
    reg_view_shutdown();
}

TestSuite(registry, .init = setup, .fini = teardown);

Test(registry, unknown_fingerprint_is_a_miss)
{
    uint8_t fp[REG_FP_LEN];
    fp_of(1, fp);
    cr_assert_eq(reg_view_lookup(fp, time(NULL)).verdict, REG_MISS);
}

Test(registry, verdicts_follow_the_row)
{
    uint8_t fp[REG_FP_LEN];
    time_t now = time(NULL);
    reg_cert_row row = active_row("dev-1");
    fp_of(1, fp);
    reg_view_learn(fp, &row);
    reg_answer a = reg_view_lookup(fp, now);
    cr_assert_eq(a.verdict, REG_OK);
    cr_assert_str_eq(a.device_id, "dev-1");
    cr_assert_eq(reg_view_lookup(fp, row.not_after).verdict, REG_EXPIRED);

    reg_cert_row revoked = active_row("dev-2");
    revoked.cert_active = 0;
    fp_of(2, fp);
    reg_view_learn(fp, &revoked);
    cr_assert_eq(reg_view_lookup(fp, now).verdict, REG_REVOKED);

    reg_cert_row absent = {0};
    fp_of(3, fp);
    reg_view_learn(fp, &absent);
    cr_assert_eq(reg_view_lookup(fp, now).verdict, REG_UNREGISTERED);

    reg_cert_row gone = active_row("dev-4");
    gone.device_status = "decommissioned";
    fp_of(4, fp);
    reg_view_learn(fp, &gone);
    cr_assert_eq(reg_view_lookup(fp, now).verdict, REG_DECOMMISSIONED);
}

Test(registry, quarantined_device_still_authenticates)
{
    uint8_t fp[REG_FP_LEN];
    reg_cert_row row = active_row("dev-q");
    row.device_status = "quarantined";
    fp_of(9, fp);
    reg_view_learn(fp, &row);
    reg_answer a = reg_view_lookup(fp, time(NULL));
    cr_assert_eq(a.verdict, REG_OK);
    cr_assert_eq(a.device_status, REG_DEV_QUARANTINED);
}

Test(registry, revocation_notify_wins_over_a_later_miss_result)
{
    uint8_t fp[REG_FP_LEN];
    reg_cert_row row = active_row("dev-1");
    fp_of(5, fp);
    reg_view_revoke(fp, "dev-1"); /* the NOTIFY overtook the lookup */
    reg_view_learn(fp, &row);     /* the stale lookup result arrives */
    cr_assert_eq(reg_view_lookup(fp, time(NULL)).verdict, REG_REVOKED);
}

Test(registry, device_status_change_applies_to_all_its_certificates)
{
    uint8_t a[REG_FP_LEN], b[REG_FP_LEN];
    reg_cert_row row = active_row("dev-7");
    fp_of(7, a);
    fp_of(8, b);
    reg_view_learn(a, &row);
    reg_view_learn(b, &row);
    reg_view_set_device_status("dev-7", REG_DEV_DECOMMISSIONED);
    cr_assert_eq(reg_view_lookup(a, time(NULL)).verdict, REG_DECOMMISSIONED);
    cr_assert_eq(reg_view_lookup(b, time(NULL)).verdict, REG_DECOMMISSIONED);
    reg_view_set_device_status("dev-7", REG_DEV_ACTIVE);
    cr_assert_eq(reg_view_lookup(a, time(NULL)).verdict, REG_OK);
}

Test(registry, reload_replaces_and_replays_changes_made_meanwhile)
{
    uint8_t old[REG_FP_LEN], fresh[REG_FP_LEN];
    reg_cert_row row = active_row("dev-1");
    fp_of(10, old);
    fp_of(11, fresh);
    reg_view_learn(old, &row);
    reg_view_load_begin();
    reg_view_load_row(fresh, &row);
    reg_view_revoke(fresh, "dev-1"); /* committed after the load's snapshot */
    reg_view_load_commit();
    cr_assert_eq(reg_view_lookup(old, time(NULL)).verdict, REG_MISS);
    cr_assert_eq(reg_view_lookup(fresh, time(NULL)).verdict, REG_REVOKED);
}

Test(registry, many_certificates_survive_growth)
{
    uint8_t fp[REG_FP_LEN];
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "dev-%d", i % 5000);
        reg_cert_row row = active_row(id);
        fp_of(i + 100, fp);
        reg_view_learn(fp, &row);
    }
    cr_assert_eq(reg_view_count(), 20000);
    fp_of(100 + 12345, fp);
    reg_answer a = reg_view_lookup(fp, time(NULL));
    cr_assert_eq(a.verdict, REG_OK);
    cr_assert_str_eq(a.device_id, "dev-2345");
}

Test(registry, request_budget_allows_burst_then_refuses)
{
    uint8_t fp[REG_FP_LEN];
    reg_cert_row row = active_row("dev-r");
    fp_of(42, fp);
    reg_view_learn(fp, &row);
    int64_t now = 1000000000000LL;
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += reg_view_allow_request("dev-r", now, 10, 5);
    cr_assert(allowed >= 5 && allowed <= 7, "allowed %d of a burst of 5", allowed);
    /* then a steady 100 attempts per second for 10 s: the rate (10/s) plus
     * what the burst allows */
    allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += reg_view_allow_request("dev-r", now + 1000000000LL + i * 10000000LL, 10, 5);
    cr_assert(allowed >= 100 && allowed <= 107, "allowed %d over 10 s at 10/s", allowed);
}

Test(registry, new_network_is_reported_once)
{
    uint8_t fp[REG_FP_LEN];
    reg_cert_row row = active_row("dev-n");
    row.last_address = "10.0.0.0/24";
    fp_of(43, fp);
    reg_view_learn(fp, &row);
    cr_assert_eq(reg_view_note_network("dev-n", "10.0.0.0/24"), 0);
    cr_assert_eq(reg_view_note_network("dev-n", "192.168.1.0/24"), 1);
    cr_assert_eq(reg_view_note_network("dev-n", "192.168.1.0/24"), 0);
    cr_assert_eq(reg_view_note_network("dev-first", "10.1.1.0/24"), 0,
                 "first sighting is not news");
}

Test(registry, class_and_tags_come_with_the_certificate)
{
    uint8_t fp[REG_FP_LEN];
    reg_device_facts f;
    fp_of(300, fp);
    reg_cert_row row = active_row("tagged-1");
    row.device_class = "sensor";
    row.tags = "\nlab\nbeta\n";
    reg_view_learn(fp, &row);
    cr_assert_eq(reg_view_device_facts("tagged-1", NULL, &f), 0);
    cr_assert_str_eq(f.device_class, "sensor");
    cr_assert_eq(f.in_group, 1);
    cr_assert_eq(reg_view_device_facts("tagged-1", "beta", &f), 0);
    cr_assert_eq(f.in_group, 1);
    cr_assert_eq(reg_view_device_facts("tagged-1", "bet", &f), 0);
    cr_assert_eq(f.in_group, 0, "a prefix of a tag is not the tag");
    cr_assert_eq(reg_view_device_facts("nobody", NULL, &f), -1);
}

/* A group by class, as gw_update.c's rollout_group: "sensor" rollouts are
 * for "beta", "gw" rollouts have no group. */
static const char *group_by_class(const char *device_class, const void *arg)
{
    (void)arg;
    return strcmp(device_class, "sensor") == 0 ? "beta" : NULL;
}

Test(registry, facts_ask_about_the_group_of_the_device_class)
{
    uint8_t fp[REG_FP_LEN];
    reg_device_facts f;
    fp_of(310, fp);
    reg_cert_row row = active_row("tagged-3");
    row.device_class = "sensor";
    row.tags = "\nlab\n";
    reg_view_learn(fp, &row);
    cr_assert_eq(reg_view_device_facts_group("tagged-3", group_by_class, NULL, &f), 0);
    cr_assert_str_eq(f.device_class, "sensor");
    cr_assert_eq(f.in_group, 0, "a sensor without the tag beta");
    fp_of(311, fp);
    row = active_row("tagged-4");
    row.device_class = "gw";
    reg_view_learn(fp, &row);
    cr_assert_eq(reg_view_device_facts_group("tagged-4", group_by_class, NULL, &f), 0);
    cr_assert_eq(f.in_group, 1, "no group: every device is in it");
    cr_assert_eq(reg_view_device_facts_group("nobody", group_by_class, NULL, &f), -1);
}

Test(registry, tags_notify_replaces_and_survives_a_reload)
{
    uint8_t fp[REG_FP_LEN];
    reg_device_facts f;
    fp_of(301, fp);
    reg_cert_row row = active_row("tagged-2");
    row.device_class = "gw";
    reg_view_learn(fp, &row);
    const char *tags[] = {"canary", "bad tag", "eu"};
    reg_view_set_device_tags("tagged-2", tags, 3);
    reg_view_device_facts("tagged-2", "canary", &f);
    cr_assert_eq(f.in_group, 1);
    reg_view_device_facts("tagged-2", "bad tag", &f);
    cr_assert_eq(f.in_group, 0, "a word that breaks the rule is not kept");
    /* a reload that read the old (untagged) row, while the NOTIFY came in */
    reg_view_load_begin();
    reg_view_load_row(fp, &row);
    const char *none[] = {"eu"};
    reg_view_set_device_tags("tagged-2", none, 1);
    reg_view_load_commit();
    reg_view_device_facts("tagged-2", "eu", &f);
    cr_assert_eq(f.in_group, 1);
    reg_view_device_facts("tagged-2", "canary", &f);
    cr_assert_eq(f.in_group, 0);
    cr_assert_str_eq(f.device_class, "gw");
}

Test(registry, offered_rollout_is_remembered)
{
    uint8_t fp[REG_FP_LEN];
    reg_device_facts f;
    fp_of(302, fp);
    reg_cert_row row = active_row("offered-1");
    reg_view_learn(fp, &row);
    reg_view_device_facts("offered-1", NULL, &f);
    cr_assert_eq(f.offered_rollout, 0);
    reg_view_note_offered("offered-1", 12);
    reg_view_device_facts("offered-1", NULL, &f);
    cr_assert_eq(f.offered_rollout, 12);
}

Test(registry, downloads_in_progress_are_capped_per_device)
{
    uint8_t fp[REG_FP_LEN];
    fp_of(303, fp);
    reg_cert_row row = active_row("dl-1");
    reg_view_learn(fp, &row);
    for (int i = 0; i < 4; i++)
        cr_assert(reg_view_download_begin("dl-1", 4), "download %d refused", i + 1);
    cr_assert(!reg_view_download_begin("dl-1", 4), "a fifth download at once");
    reg_view_download_end("dl-1");
    cr_assert(reg_view_download_begin("dl-1", 4), "one ended: one more");
    cr_assert(!reg_view_download_begin("nobody", 4), "a device not in the view");
    for (int i = 0; i < 10; i++)
        reg_view_download_end("dl-1"); /* more ends than begins stay at 0 */
    for (int i = 0; i < 4; i++)
        cr_assert(reg_view_download_begin("dl-1", 4));
    cr_assert(!reg_view_download_begin("dl-1", 4));
}

Test(registry, many_devices_of_many_classes_keep_their_own)
{
    /* classes are kept once each (the table grows past its first 16) */
    char id[32], cls[32];
    reg_device_facts f;
    for (int i = 0; i < 400; i++) {
        uint8_t fp[REG_FP_LEN];
        fp_of(1000 + i, fp);
        snprintf(id, sizeof id, "cls-dev-%d", i);
        snprintf(cls, sizeof cls, "class-%d", i % 40);
        reg_cert_row row = active_row(id);
        row.device_class = cls;
        reg_view_learn(fp, &row);
    }
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "cls-dev-%d", i);
        snprintf(cls, sizeof cls, "class-%d", i % 40);
        cr_assert_eq(reg_view_device_facts(id, NULL, &f), 0);
        cr_assert_str_eq(f.device_class, cls);
    }
    uint8_t fp[REG_FP_LEN];
    fp_of(2000, fp);
    reg_cert_row row = active_row("no-class");
    row.device_class = "";
    reg_view_learn(fp, &row);
    cr_assert_eq(reg_view_device_facts("no-class", NULL, &f), 0);
    cr_assert_str_eq(f.device_class, "", "no class: unknown");
}
