/*
 * test_ca_files.c - cert-authority's files as vigilctl's users meet them
 * (ca_pem.c): ca_text_replace (--out FILE: all or nothing, an old file
 * replaced only by a whole new one) and ca_csr_read's errors, each naming
 * the file and the reason.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert-authority/ca.h"
#include "tests/unit/tmpdir.h"

TestSuite(ca_files, .init = setup, .fini = teardown);

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void read_back(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

Test(ca_files, text_replace_writes_then_replaces)
{
    char path[128], got[64];
    ca_error err = {0};
    struct stat st;
    path_in(path, sizeof(path), "demo-1.crt");
    cr_assert_eq(ca_text_replace(path, "first\n", 6, 0644, &err), 0, "%s", err.msg);
    read_back(path, got, sizeof(got));
    cr_assert_str_eq(got, "first\n");
    cr_assert_eq(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    cr_assert_eq(st.st_mode & 0777, 0644 & ~mask, "mode %o", (unsigned)(st.st_mode & 0777));
    cr_assert_eq(ca_text_replace(path, "second\n", 7, 0644, &err), 0, "%s", err.msg);
    read_back(path, got, sizeof(got));
    cr_assert_str_eq(got, "second\n");
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0, "no temporary file left behind");
}

Test(ca_files, text_replace_failure_names_the_file)
{
    char path[128];
    ca_error err = {0};
    path_in(path, sizeof(path), "nope/chain.pem");
    cr_assert_lt(ca_text_replace(path, "x", 1, 0644, &err), 0);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "No such file or directory"), "%s", err.msg);
}

static void csr_error(const char *name, const char *expect)
{
    char path[128];
    ca_error err = {0};
    path_in(path, sizeof(path), name);
    cr_assert_null(ca_csr_read(path, &err));
    cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "names the file first: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, expect), "'%s' in: %s", expect, err.msg);
    cr_assert_null(strstr(err.msg, "system lib"), "%s", err.msg);
}

Test(ca_files, csr_read_errors_name_the_file_and_the_reason)
{
    char path[128];
    path_in(path, sizeof(path), "empty.csr");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    path_in(path, sizeof(path), "junk.csr");
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("hello\n", f);
    fclose(f);
    path_in(path, sizeof(path), "a-dir");
    cr_assert_eq(mkdir(path, 0700), 0);
    csr_error("missing.csr", ": No such file or directory");
    csr_error("empty.csr", " is empty");
    csr_error("junk.csr", ": not a certificate signing request");
    csr_error("a-dir", " is a directory");
}
