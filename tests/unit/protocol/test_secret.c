/*
 * test_secret.c - secrets from files (protocol/secret.c): the first line
 * without its line ending, whatever follows it; an empty, missing or
 * too-long first line refused with the file named, never cut short.
 */
#include "tests/unit/tmpdir.h"

#include "protocol/secret.h"

TestSuite(secret, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

Test(secret, the_first_line_without_its_ending)
{
    char err[256] = "";
    const char *cases[][2] = {{"s3cret\n", "s3cret"},
                              {"s3cret", "s3cret"},
                              {"s3cret\r\nsecond line\n", "s3cret"},
                              {"with spaces  \n", "with spaces  "}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = write_file("pw", cases[i][0], strlen(cases[i][0]));
        char *s = secret_read_file(path, err, sizeof err);
        cr_assert_not_null(s, "case %zu: %s", i, err);
        cr_assert_str_eq(s, cases[i][1]);
        secret_free(s);
    }
}

Test(secret, empty_missing_and_long_are_refused_with_the_file_named)
{
    char err[256];
    const char *path = write_file("empty", "", 0);
    cr_assert_null(secret_read_file(path, err, sizeof err));
    cr_assert(strstr(err, path) && strstr(err, "is empty"), "%s", err);
    path = write_file("blank", "\nsecond\n", 8);
    cr_assert_null(secret_read_file(path, err, sizeof err), "an empty first line is empty");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none", dir);
    cr_assert_null(secret_read_file(missing, err, sizeof err));
    cr_assert(strstr(err, missing) && strstr(err, "No such file"), "%s", err);
    cr_assert_null(secret_read_file(dir, err, sizeof err), "a directory is not a secret");
    cr_assert(strstr(err, dir), "%s", err);

    char longest[SECRET_MAX + 2];
    memset(longest, 'x', sizeof longest);
    longest[SECRET_MAX] = '\n';
    path = write_file("longest", longest, SECRET_MAX + 1);
    char *s = secret_read_file(path, err, sizeof err);
    cr_assert_not_null(s, "%d bytes are allowed: %s", SECRET_MAX, err);
    cr_assert_eq(strlen(s), SECRET_MAX);
    secret_free(s);
    longest[SECRET_MAX] = 'x';
    longest[SECRET_MAX + 1] = '\n';
    path = write_file("toolong", longest, SECRET_MAX + 2);
    cr_assert_null(secret_read_file(path, err, sizeof err), "one byte more is refused, not cut");
    cr_assert(strstr(err, "longer than"), "%s", err);
    secret_free(NULL);
}
