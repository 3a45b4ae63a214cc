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
    cr_assert_str_eq(b.data,
                     "{\"plain\",NULL,\"NULL\",\"\",\"{\\\"a\\\":\\\"b\\\\\\\\c\\\"}\",\"x,y}\"}");
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

Test(strbuf, json_strings_escape_what_json_requires)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_json_string(&b, "a\"b\\c\n\x01\x1f caf\xc3\xa9");
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f caf\xc3\xa9\"");
    strbuf_reset(&b);
    strbuf_json_string(&b, "");
    cr_assert_str_eq(b.data, "\"\"");
    cr_assert_not(b.failed);
    strbuf_free(&b);
}

Test(strbuf, a_fixed_buffer_never_overflows_and_says_so)
{
    char buf[8];
    strbuf b;
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_puts(&b, "abc");
    cr_assert_eq(strbuf_room(&b), 4);
    strbuf_puts(&b, "defghij");
    cr_assert_str_eq(buf, "abcdefg", "what fits is kept, NUL included");
    cr_assert(b.failed);
    strbuf_puts(&b, "x");
    cr_assert_str_eq(buf, "abcdefg", "later appends are ignored");
    cr_assert_null(strbuf_take(&b, NULL), "a fixed buffer is never handed over");
}

Test(strbuf, a_cut_json_string_is_still_a_closed_literal)
{
    char buf[10];
    strbuf b;
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_json_string(&b, "ab\"cdefgh");
    cr_assert_str_eq(buf, "\"ab\\\"cde\"", "cut before the character that does not fit");
    cr_assert(b.failed);
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_json_string(&b, "abc\x01");
    cr_assert_str_eq(buf, "\"abc\"", "an escape is never split");
    strbuf_init_fixed(&b, buf, 2);
    strbuf_json_string(&b, "abc");
    cr_assert_str_eq(buf, "", "no room for the quotes: nothing");
    cr_assert(b.failed);
}
