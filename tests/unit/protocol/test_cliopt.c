/*
 * test_cliopt.c - exact long option names (protocol/cliopt.c): a prefix
 * of an option's name is unknown, not the option (glibc would take
 * `--sever` as --severity), with and without permutation, and *at names
 * what was typed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/cliopt.h"

static const struct option opts[] = {
    {"severity", 1, 0, 'S'}, {"server", 1, 0, 's'}, {"json", 0, 0, 'j'}, {0}};

/* The options getopt returns for argv (NULL-terminated), as a string, and
 * the last *at. */
static void scan(char **argv, const char *optstring, char *got, const char **at)
{
    int argc = 0, c;
    while (argv[argc])
        argc++;
    optind = 0;
    opterr = 0;
    size_t n = 0;
    while ((c = cliopt_getopt_long(argc, argv, optstring, opts, at)) != -1 && n < 15) {
        got[n++] = (char)c;
        if (c == '?' || c == ':')
            break;
    }
    got[n] = '\0';
}

Test(cliopt, full_names_are_taken)
{
    char *argv[] = {"p", "--severity", "info", "--server=h:1", "--json", NULL};
    char got[16];
    const char *at;
    scan(argv, "+:h", got, &at);
    cr_assert_str_eq(got, "Ssj");
}

Test(cliopt, a_prefix_is_unknown_and_named_as_typed)
{
    const char *cases[] = {"--sever", "--sev=x", "--js"};
    for (size_t i = 0; i < 3; i++) {
        char *argv[] = {"p", "--json", (char *)cases[i], "v", NULL};
        char got[16];
        const char *at = NULL;
        scan(argv, ":h", got, &at);
        cr_assert_str_eq(got, "j?", "%s", cases[i]);
        cr_assert_str_eq(at, cases[i]);
    }
}

Test(cliopt, permutation_still_names_the_option)
{
    char *argv[] = {"p", "list", "--severity", "x", "more", "--serve", "h", NULL};
    char got[16];
    const char *at = NULL;
    scan(argv, ":h", got, &at);
    cr_assert_str_eq(got, "S?");
    cr_assert_str_eq(at, "--serve");
}

Test(cliopt, unknown_and_missing_values_pass_through)
{
    char *argv[] = {"p", "--nope", NULL};
    char got[16];
    const char *at = NULL;
    scan(argv, ":h", got, &at);
    cr_assert_str_eq(got, "?");
    cr_assert_str_eq(at, "--nope");
    char *argv2[] = {"p", "--server", NULL};
    scan(argv2, ":h", got, &at);
    cr_assert_str_eq(got, ":");
    cr_assert_str_eq(at, "--server");
}

/* A prefix with no value after it is unknown too, not "needs a value":
 * `vigil-device report --sever` names no option. */
Test(cliopt, a_prefix_without_its_value_is_unknown)
{
    char *argv[] = {"p", "--json", "--sever", NULL};
    char got[16];
    const char *at;
    scan(argv, ":h", got, &at);
    cr_assert_str_eq(got, "j?");
    cr_assert_str_eq(at, "--sever");
    char *argv2[] = {"p", "--severity", NULL};
    scan(argv2, ":h", got, &at);
    cr_assert_str_eq(got, ":", "the full name without its value still needs one");
}
