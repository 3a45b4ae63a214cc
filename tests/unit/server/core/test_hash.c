/*
 * test_hash.c - the server's one string hash, 64-bit FNV-1a
 * (server/core/hash.c). The device, address and report-key tables, and the
 * rate windows keyed by it, assume it is the published FNV-1a, and
 * report keys are hashed in pieces with hash_fnv1a_more, which must give
 * the hash of the whole. The expected values are from the FNV reference
 * test vectors (fnv1a_64_vector[] in test_fnv.c of
 * http://www.isthe.com/chongo/src/fnv), each also recomputed with an
 * independent implementation when these tests were written.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/core/hash.h"

#define R10(x) x x x x x x x x x x

static const struct {
    const char *text;
    uint64_t fnv1a_64;
} reference[] = {
    {"", 0xcbf29ce484222325ULL},
    {"a", 0xaf63dc4c8601ec8cULL},
    {"b", 0xaf63df4c8601f1a5ULL},
    {"foo", 0xdcb27518fed9d577ULL},
    {"foobar", 0x85944171f73967e8ULL},
    {"chongo was here!\n", 0x46810940eff5f915ULL},
    {"hello", 0xa430d84680aabd0bULL},
    {"line 1\nline 2\nline 3", 0x7829851fac17b143ULL},
    /* bytes over 0x7f: the hash takes them unsigned */
    {R10("\x54\xc5"), 0x0803564445050395ULL},
    {R10("\xc5\x54"), 0xaa1574ecf4642ffdULL},
};

#define N_REFERENCE (sizeof(reference) / sizeof(reference[0]))

/* The published offset basis, 14695981039346656037: FNV-1a of "". */
#define FNV1A_64_BASIS 0xcbf29ce484222325ULL

Test(hash, each_step_is_fnv1a_from_the_published_offset_basis)
{
    for (size_t i = 0; i < N_REFERENCE; i++) {
        uint64_t h = hash_fnv1a_more(FNV1A_64_BASIS, reference[i].text);
        cr_assert_eq(h, reference[i].fnv1a_64, "vector %zu: 0x%016llx, expected 0x%016llx", i,
                     (unsigned long long)h, (unsigned long long)reference[i].fnv1a_64);
    }
}

/* The server's own basis is the published one (it was once
 * 1469598103934665603, a digit short, in all six copies hash.c replaced). */
Test(hash, matches_the_published_fnv1a_64_vectors)
{
    cr_assert_eq(HASH_FNV1A_INIT, FNV1A_64_BASIS);
    for (size_t i = 0; i < N_REFERENCE; i++) {
        uint64_t h = hash_fnv1a(reference[i].text);
        cr_assert_eq(h, reference[i].fnv1a_64, "vector %zu: 0x%016llx, expected 0x%016llx", i,
                     (unsigned long long)h, (unsigned long long)reference[i].fnv1a_64);
    }
}

Test(hash, starts_from_its_offset_basis)
{
    cr_assert_eq(hash_fnv1a(""), HASH_FNV1A_INIT, "the hash of the empty string is the basis");
    for (size_t i = 0; i < N_REFERENCE; i++)
        cr_assert_eq(hash_fnv1a_more(HASH_FNV1A_INIT, reference[i].text),
                     hash_fnv1a(reference[i].text), "vector %zu", i);
}

Test(hash, continuing_a_hash_equals_hashing_the_concatenation)
{
    for (size_t i = 0; i < N_REFERENCE; i++) {
        const char *text = reference[i].text;
        size_t len = strlen(text);
        uint64_t whole = hash_fnv1a(text);
        for (size_t cut = 0; cut <= len; cut++) {
            char head[64];
            snprintf(head, sizeof(head), "%.*s", (int)cut, text);
            cr_assert_eq(hash_fnv1a_more(hash_fnv1a(head), text + cut), whole,
                         "vector %zu cut after %zu bytes", i, cut);
            cr_assert_eq(hash_fnv1a_more(hash_fnv1a_more(FNV1A_64_BASIS, head), text + cut),
                         reference[i].fnv1a_64, "vector %zu from the published basis, cut at %zu",
                         i, cut);
        }
    }
}

Test(hash, continues_over_many_pieces)
{
    uint64_t h = hash_fnv1a("dev-1");
    h = hash_fnv1a_more(h, "|");
    h = hash_fnv1a_more(h, "");
    h = hash_fnv1a_more(h, "00000000-0000-4000-8000-000000000001");
    cr_assert_eq(h, hash_fnv1a("dev-1|00000000-0000-4000-8000-000000000001"));
}

Test(hash, the_order_of_the_pieces_matters)
{
    cr_assert_neq(hash_fnv1a_more(hash_fnv1a("ab"), "c"), hash_fnv1a_more(hash_fnv1a("c"), "ab"));
    cr_assert_neq(hash_fnv1a("ab"), hash_fnv1a("ba"));
}
