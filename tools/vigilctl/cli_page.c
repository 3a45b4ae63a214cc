/*
 * cli_page.c - listings that may be long: tables of bounded, printable
 * cells (values from devices never reach a terminal raw) and keyset
 * paging, one page at a time with a "next page" cursor or every page in
 * turn (see cli.h's cli_pager).
 */
#include "tools/vigilctl/cli.h"

#include <stdlib.h>
#include <string.h>

#define CELL_MAX 32 /* widest table cell; longer values end in "..." */

/* One cell as shown in a table: printable ASCII, at most CELL_MAX
 * characters, timestamps to the second. */
static void cell_text(PGresult *res, int row, int col, char *out, size_t size)
{
    const char *v = PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col), len = 0;
    if (PQgetisnull(res, row, col) || n == 0) {
        snprintf(out, size, "-");
        return;
    }
    if (PQftype(res, col) == 16) { /* boolean */
        snprintf(out, size, "%s", v[0] == 't' ? "yes" : "no");
        return;
    }
    /* "2026-11-25T10:00:00.123456Z" -> "2026-11-25T10:00:00Z" */
    int trim = n == 27 && v[10] == 'T' && v[19] == '.' && v[26] == 'Z';
    if (trim)
        n = 19;
    for (size_t i = 0; i < n && len + 2 < size; i++) {
        unsigned char c = (unsigned char)v[i];
        out[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (trim)
        out[len++] = 'Z';
    out[len] = '\0';
    if (len > CELL_MAX)
        memcpy(out + CELL_MAX - 3, "...", 4);
}

void cli_print_cells(PGresult *res, const char *const *names, int header, int rows)
{
    int idx[16], ncol = 0;
    size_t width[16];
    char buf[CELL_MAX + 8];
    for (; *names && ncol < 16; names++) {
        int c = PQfnumber(res, *names);
        if (c < 0)
            continue;
        idx[ncol] = c;
        width[ncol++] = strlen(*names);
    }
    for (int k = 0; k < ncol; k++)
        for (int r = 0; r < rows; r++) {
            cell_text(res, r, idx[k], buf, sizeof(buf));
            if (strlen(buf) > width[k])
                width[k] = strlen(buf);
        }
    for (int k = 0; header && k < ncol; k++) {
        const char *name = PQfname(res, idx[k]);
        for (const char *p = name; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        if (k + 1 < ncol)
            printf("%*s", (int)(width[k] - strlen(name) + 2), "");
        else
            putchar('\n');
    }
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < ncol; k++) {
            cell_text(res, r, idx[k], buf, sizeof(buf));
            if (k + 1 < ncol)
                printf("%-*s  ", (int)width[k], buf);
            else
                fputs(buf, stdout);
        }
        putchar('\n');
    }
}

/* The first n rows: table lines (the header on the first page) or JSON
 * array elements (the pager prints the brackets). */
static void print_page(cli_ctx *ctx, const cli_pager *p, PGresult *res, int n, int first,
                       int *printed)
{
    if (!ctx->json) {
        if (first || n > 0)
            cli_print_cells(res, p->columns, first, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        json_t *o = db_row_json(res, i);
        if (o && p->drop)
            json_object_del(o, p->drop);
        char *text =
            o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
              : NULL;
        printf("%s%s", (*printed)++ ? ",\n" : "", text ? text : "null");
        free(text);
        json_decref(o);
    }
}

int cli_print_pages(cli_ctx *ctx, const cli_pager *p, void *state)
{
    db_error err = {0};
    char cursor[64] = "";
    int printed = 0, first = 1, more;
    if (ctx->json)
        fputs("[\n", stdout);
    do {
        /* one row more than a page: whether another page follows */
        PGresult *res = p->fetch(ctx, state, p->limit + 1, &err);
        if (!res) {
            if (ctx->json)
                fputs("]\n", stdout);
            return cli_fail_db(ctx, &err);
        }
        int n = PQntuples(res) < p->limit ? PQntuples(res) : p->limit;
        print_page(ctx, p, res, n, first, &printed);
        if ((more = PQntuples(res) > p->limit))
            p->advance(state, res, n - 1, cursor, sizeof(cursor));
        PQclear(res);
        first = 0;
    } while (more && p->all);
    if (ctx->json)
        fputs(printed ? "\n]\n" : "]\n", stdout);
    if (fflush(stdout) != 0)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot write to stdout");
    if (more)
        fprintf(stderr, "next page: --after %s\n", cursor);
    return EXIT_OK;
}
