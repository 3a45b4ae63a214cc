/*
 * test_update_parts.c - the pieces of `vigil-device update` that need no
 * server: the pinned keys file and what may be added to it (a chain of
 * rotations, never a key endorsed by an unpinned one), the state file that
 * holds the anti-rollback floor, the ordered status outbox, and the
 * install step. The download and the whole command run against vigild in
 * tests/e2e/device/test_update.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "protocol/manifest.h"
#include "tests/unit/release_key.h"
#include "tests/unit/tmpdir.h"
#include "tools/vigil-device/fwstate.h"
#include "tools/vigil-device/install.h"
#include "tools/vigil-device/outbox.h"
#include "tools/vigil-device/pinned.h"
#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/util.h"

TestSuite(update_parts, .init = setup, .fini = teardown);

static const char *kid_of(const json_t *k)
{
    return json_string_value(json_object_get(k, "kid"));
}

/* A pinned file of the public halves of the keys given. */
static void write_pinned(const char *path, const json_t *a, const json_t *b)
{
    json_t *keys = json_array();
    json_array_append_new(keys, manifest_jwk_public(a));
    if (b)
        json_array_append_new(keys, manifest_jwk_public(b));
    json_t *set = json_pack("{s:o}", "keys", keys);
    cr_assert_eq(pinned_save(path, set), 0);
    json_decref(set);
}

/* keys.json in the test's directory (its name into path) pinning only
 * a, loaded: the set, or NULL with why. */
static json_t *pin_one(char path[128], const json_t *a, char *why, size_t why_len)
{
    snprintf(path, 128, "%s/keys.json", dir);
    write_pinned(path, a, NULL);
    return pinned_load(path, why, why_len);
}

/* An endorsement of key by signer, as the server lists it. */
static json_t *endorsement(const json_t *key, const json_t *signer)
{
    json_t *list = json_pack("[o]", manifest_jwk_public(key));
    char *jws = manifest_endorse(list, signer, 1000);
    cr_assert_not_null(jws);
    json_t *s = json_string(jws);
    free(jws);
    json_decref(list);
    return s;
}

Test(update_parts, pinned_keys_load_and_refuse_what_is_not_a_public_set)
{
    char path[128], why[300];
    json_t *a = new_key();
    json_t *set = pin_one(path, a, why, sizeof why);
    cr_assert_not_null(set, "%s", why);
    cr_assert_not_null(manifest_jwks_find(set, kid_of(a)));
    json_decref(set);
    /* a private key is not a pinned key */
    json_t *priv = json_pack("{s:[O]}", "keys", a);
    char *text = json_dumps(priv, 0);
    cr_assert_eq(devu_write_atomic(path, text, strlen(text), 0600), 0);
    cr_assert_null(pinned_load(path, why, sizeof why));
    cr_assert(strstr(why, "not a public EC P-256 key"), "%s", why);
    free(text);
    json_decref(priv);
    /* listed twice, empty, not JSON, missing */
    write_pinned(path, a, a);
    cr_assert_null(pinned_load(path, why, sizeof why));
    cr_assert_eq(devu_write_atomic(path, "{\"keys\":[]}", 11, 0644), 0);
    cr_assert_null(pinned_load(path, why, sizeof why));
    cr_assert_eq(devu_write_atomic(path, "nope", 4, 0644), 0);
    cr_assert_null(pinned_load(path, why, sizeof why));
    unlink(path);
    cr_assert_null(pinned_load(path, why, sizeof why));
    json_decref(a);
}

Test(update_parts, a_chain_of_rotations_is_learned_in_any_order)
{
    char path[128], why[300];
    json_t *a = new_key(), *b = new_key(), *c = new_key();
    json_t *set = pin_one(path, a, why, sizeof why);
    /* C endorsed by B listed before B endorsed by A: two passes */
    json_t *ends = json_pack("[o,o,s]", endorsement(c, b), endorsement(b, a), "not a jws");
    cr_assert_eq(pinned_learn(set, ends), 2);
    cr_assert_not_null(manifest_jwks_find(set, kid_of(b)));
    cr_assert_not_null(manifest_jwks_find(set, kid_of(c)));
    cr_assert_eq(pinned_learn(set, ends), 0, "nothing new the second time");
    cr_assert_eq(pinned_save(path, set), 0);
    json_decref(set);
    set = pinned_load(path, why, sizeof why);
    cr_assert_not_null(set, "%s", why);
    cr_assert_eq(json_array_size(json_object_get(set, "keys")), 3);
    cr_assert_null(json_object_get(json_array_get(json_object_get(set, "keys"), 2), "d"));
    json_decref(set);
    json_decref(ends);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

Test(update_parts, an_endorsement_by_an_unpinned_key_teaches_nothing)
{
    char path[128], why[300];
    json_t *a = new_key(), *rogue = new_key(), *x = new_key();
    json_t *set = pin_one(path, a, why, sizeof why);
    /* the server's own key vouching for itself or another */
    json_t *ends = json_pack("[o,o]", endorsement(rogue, rogue), endorsement(x, rogue));
    cr_assert_eq(pinned_learn(set, ends), 0);
    cr_assert_eq(json_array_size(json_object_get(set, "keys")), 1);
    cr_assert_eq(pinned_learn(set, json_null()), 0);
    json_decref(ends);
    json_decref(set);
    json_decref(a);
    json_decref(rogue);
    json_decref(x);
}

Test(update_parts, the_state_round_trips_and_a_broken_one_is_refused)
{
    char sdir[128], path[160], why[300];
    fwstate s, got;
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    cr_assert_eq(fwstate_load(sdir, &s, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(s.version, "");
    cr_assert_eq(s.security_version, 0);
    strcpy(s.device_class, "sensor");
    strcpy(s.version, "1.2.0");
    s.security_version = 9007199254740992LL;
    cr_assert_eq(fwstate_save(sdir, &s), 0);
    cr_assert_eq(fwstate_load(sdir, &got, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(got.device_class, "sensor");
    cr_assert_str_eq(got.version, "1.2.0");
    cr_assert_eq(got.security_version, 9007199254740992LL);
    snprintf(path, sizeof path, "%s/state.json", sdir);
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "{\"security_version\":-1}",
                         "{\"security_version\":1,\"version\":\"../x\"}",
                         "{\"class\":\"a\"}",
                         "{\"security_version\":1,\"security_version\":0}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(devu_write_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
        cr_assert_eq(fwstate_load(sdir, &got, why, sizeof why), -1, "accepted %s", bad[i]);
    }
}

Test(update_parts, status_reports_keep_their_order_and_a_bounded_reason)
{
    char odir[128], big[2000];
    devq_entry *e = NULL;
    size_t n = 0;
    snprintf(odir, sizeof odir, "%s/status", dir);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[3] = '\n';
    cr_assert_eq(outbox_put(odir, "1.0", "downloading", NULL), 0);
    cr_assert_eq(outbox_put(odir, "1.0", "failed", big), 0);
    cr_assert_eq(outbox_put(odir, "1.0", "downloading", NULL), 0);
    cr_assert_eq(devq_load(odir, 10, &e, &n), 0);
    cr_assert_eq(n, 3);
    int seen[4] = {0};
    for (size_t i = 0; i < n; i++) {
        json_int_t seq = json_integer_value(json_object_get(e[i].report, "seq"));
        cr_assert(seq >= 1 && seq <= 3);
        seen[seq] = 1;
        const char *reason = json_string_value(json_object_get(e[i].report, "reason"));
        cr_assert_eq(seq == 2, reason != NULL);
        if (reason) {
            cr_assert_eq(strlen(reason), OUTBOX_REASON_MAX);
            cr_assert_eq(reason[3], '?', "control characters are replaced");
        }
    }
    cr_assert(seen[1] && seen[2] && seen[3]);
    devq_free(e, n);
}

/* A server that never takes a report (503 forever), or refuses each with
 * a huge body, must not fill the device's disk: the outbox keeps at most
 * OUTBOX_MAX_REPORTS, a rejected report's reason is cut to
 * DEVQ_REASON_MAX bytes, and DIR/rejected/ keeps at most
 * DEVQ_REJECTED_MAX reports. */
Test(update_parts, the_outbox_and_the_rejected_reports_are_bounded)
{
    char odir[128], rdir[160], path[256];
    struct stat st;
    snprintf(odir, sizeof odir, "%s/status", dir);
    snprintf(rdir, sizeof rdir, "%s/rejected", odir);
    for (int i = 0; i < OUTBOX_MAX_REPORTS; i++)
        cr_assert_eq(outbox_put(odir, "1.0", "downloading", NULL), 0);
    cr_assert_eq(outbox_put(odir, "1.0", "installed", NULL), -1, "a full outbox took one more");
    cr_assert_eq(devq_count(odir), OUTBOX_MAX_REPORTS);

    size_t big_len = 1024 * 1024;
    char *big = malloc(big_len + 1);
    cr_assert_not_null(big);
    memset(big, 'x', big_len);
    big[big_len] = '\0';
    devq_entry *e = NULL;
    size_t n = 0;
    cr_assert_eq(devq_load(odir, OUTBOX_MAX_REPORTS, &e, &n), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(devq_reject(odir, e[i].id, big), 0);
    snprintf(path, sizeof path, "%s/%s.reason", rdir, e[0].id);
    cr_assert(stat(path, &st) != 0 || st.st_size <= DEVQ_REASON_MAX,
              "a rejected report's reason of 1 MiB was kept whole (%lld bytes)",
              (long long)st.st_size);
    cr_assert(devq_count(rdir) <= DEVQ_REJECTED_MAX, "%zu rejected reports kept", devq_count(rdir));
    cr_assert_eq(devq_count(odir), 0, "a rejected report left the outbox");
    devq_free(e, n);
    free(big);
}

Test(update_parts, install_replaces_the_image_atomically_or_fails_as_told)
{
    char part[128], idir[128], image[160], why[300];
    size_t len = 0;
    snprintf(part, sizeof part, "%s/artifact.part", dir);
    snprintf(idir, sizeof idir, "%s/install", dir);
    snprintf(image, sizeof image, "%s/" INSTALL_FILE, idir);
    cr_assert_eq(devu_write_atomic(part, "new image", 9, 0600), 0);
    setenv("VIGIL_DEVICE_INSTALL_FAIL", "flash write error", 1);
    cr_assert_eq(install_artifact(part, idir, why, sizeof why), -1);
    cr_assert_str_eq(why, "flash write error");
    cr_assert_eq(access(image, F_OK), -1, "nothing installed");
    unsetenv("VIGIL_DEVICE_INSTALL_FAIL");
    cr_assert_eq(install_artifact(part, idir, why, sizeof why), 0, "%s", why);
    char *got = devu_read_file(image, 100, &len);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, "new image");
    cr_assert_eq(access(part, F_OK), -1, "the part became the image");
    free(got);
}
