/*
 * test_strbuf.c - the growable buffer and PostgreSQL array literal encoding
 * (server/core/strbuf.c); the ingest statement's correctness rests on the
 * quoting being right for every byte a report may carry.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/strbuf.h"

Test(strbuf, grows_and_takes)
{
    strbuf b;
    strbuf_init(&b);
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&b, "%d,", i);
    size_t len = 0;
    char *s = strbuf_take(&b, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s));
    cr_assert(strncmp(s, "0,1,2,", 6) == 0);
    cr_assert_null(b.data);
    free(s);
}

Test(strbuf, array_literal_quotes_everything)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_array_open(&b);
    strbuf_array_elem(&b, "plain");
    strbuf_array_elem(&b, NULL);
    strbuf_array_elem(&b, "NULL");
    strbuf_array_elem(&b, "");
    strbuf_array_elem(&b, "{\"a\":\"b\\\\c\"}");
    strbuf_array_elem(&b, "x,y}");
    strbuf_array_close(&b);
    cr_assert_str_eq(b.data, "{\"plain\",NULL,\"NULL\",\"\",\"{\\\"a\\\":\\\"b\\\\\\\\c\\\"}\",\"x,y}\"}");
    strbuf_free(&b);
}

Test(strbuf, empty_array)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_array_open(&b);
    strbuf_array_close(&b);
    cr_assert_str_eq(b.data, "{}");
    strbuf_free(&b);
}
