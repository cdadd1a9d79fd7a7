/* test_buf.c - bounded buffers: growth, limits, -E2BIG leaves data intact, consume, steal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, zeroed_buf_is_empty_and_cannot_grow)
{
    struct buf b = {0};
    cr_assert_eq(b.len, 0);
    cr_assert_eq(buf_append(&b, "x", 1), -E2BIG);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.base);
    cr_assert_eq(buf_append(&b, "", 0), 0);
    buf_close(&b);
}

Test(buf, append_and_str_keep_bytes_in_order)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_append(&b, "abc", 3), 0);
    cr_assert_eq(buf_append_str(&b, "def"), 0);
    cr_assert_eq(buf_append(&b, "\0g", 2), 0);
    cr_assert_eq(b.len, 8);
    cr_assert_eq(memcmp(b.base, "abcdef\0g", 8), 0);
    cr_assert_geq(b.cap, 256, "first growth allocates at least 256 bytes");
    buf_close(&b);
    cr_assert_null(b.base);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
}

Test(buf, growth_doubles_but_stops_at_max)
{
    struct buf b;
    buf_init(&b, 1000);
    char chunk[300];
    memset(chunk, 'a', sizeof(chunk));
    cr_assert_eq(buf_append(&b, chunk, 200), 0);
    cr_assert_eq(b.cap, 256);
    cr_assert_eq(buf_append(&b, chunk, 100), 0);
    cr_assert_eq(b.cap, 512);
    cr_assert_eq(buf_append(&b, chunk, 300), 0);
    cr_assert_eq(b.cap, 1000, "cap clamps to max, got %zu", b.cap);
    cr_assert_eq(b.len, 600);
    cr_assert_eq(buf_append(&b, chunk, 300), 0);
    cr_assert_eq(b.len, 900);
    cr_assert_eq(buf_append(&b, chunk, 101), -E2BIG);
    cr_assert_eq(b.len, 900, "a refused append adds nothing");
    cr_assert_eq(buf_append(&b, chunk, 100), 0, "exactly max bytes fit");
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(buf_append(&b, "x", 1), -E2BIG);
    buf_close(&b);
}

Test(buf, reserve_reports_e2big_past_max_and_huge_requests)
{
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(buf_reserve(&b, 64), 0);
    cr_assert_geq(b.cap, 64);
    cr_assert_leq(b.cap, 64);
    cr_assert_eq(buf_reserve(&b, 65), -E2BIG);
    cr_assert_eq(buf_append(&b, "abcd", 4), 0);
    cr_assert_eq(buf_reserve(&b, SIZE_MAX), -E2BIG, "no overflow in len + n");
    cr_assert_eq(buf_reserve(&b, 60), 0);
    cr_assert_eq(buf_reserve(&b, 61), -E2BIG);
    buf_close(&b);
}

Test(buf, max_zero_means_no_growth_beyond_cap)
{
    struct buf b;
    buf_init(&b, 32);
    cr_assert_eq(buf_append(&b, "hello", 5), 0);
    size_t cap = b.cap;
    b.max = 0;
    char fill[512];
    memset(fill, 'x', sizeof(fill));
    cr_assert_eq(buf_append(&b, fill, cap - 5), 0);
    cr_assert_eq(b.len, cap);
    cr_assert_eq(buf_append(&b, "y", 1), -E2BIG);
    cr_assert_eq(b.cap, cap);
    buf_close(&b);
}

Test(buf, printf_formats_and_grows)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(buf_printf(&b, "%s=%d;", "a", 42), 0);
    cr_assert_eq(buf_printf(&b, "%0500d", 7), 0);
    cr_assert_eq(b.len, 5 + 500);
    cr_assert_eq(memcmp(b.base, "a=42;000", 8), 0);
    cr_assert_eq(b.base[b.len - 1], '7');
    buf_close(&b);
}

Test(buf, printf_e2big_leaves_buffer_unchanged)
{
    struct buf b;
    buf_init(&b, 300);
    cr_assert_eq(buf_append(&b, "keep", 4), 0);
    size_t cap = b.cap;
    cr_assert_eq(buf_printf(&b, "%0400d", 1), -E2BIG);
    cr_assert_eq(b.len, 4);
    cr_assert_eq(memcmp(b.base, "keep", 4), 0);
    /* A text filling the free room exactly (without NUL space) still fits up to max. */
    cr_assert_eq(buf_printf(&b, "%0296d", 5), 0);
    cr_assert_eq(b.len, 300);
    cr_assert_eq(b.base[299], '5');
    cr_assert_eq(memcmp(b.base, "keep0", 5), 0);
    cr_assert_eq(buf_printf(&b, "x"), -E2BIG);
    cr_assert_eq(b.len, 300);
    cr_assert_eq(b.base[299], '5', "a refused printf must not write its NUL into data");
    cr_assert_geq(b.cap, cap);
    buf_close(&b);
}

Test(buf, printf_exact_fit_in_current_cap_without_growth)
{
    struct buf b;
    buf_init(&b, 256);
    cr_assert_eq(buf_append(&b, "ab", 2), 0);
    cr_assert_eq(b.cap, 256);
    b.max = 0; /* no growth allowed: the text must fit the 254 free bytes exactly */
    cr_assert_eq(buf_printf(&b, "%0254d", 3), 0);
    cr_assert_eq(b.len, 256);
    cr_assert_eq(b.base[255], '3');
    cr_assert_eq(buf_printf(&b, "%s", ""), 0, "an empty format fits a full buffer");
    cr_assert_eq(b.len, 256);
    buf_close(&b);
}

Test(buf, consume_drops_prefix)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_eq(buf_append_str(&b, "0123456789"), 0);
    buf_consume(&b, 3);
    cr_assert_eq(b.len, 7);
    cr_assert_eq(memcmp(b.base, "3456789", 7), 0);
    buf_consume(&b, 0);
    cr_assert_eq(b.len, 7);
    buf_consume(&b, 7);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(buf_append_str(&b, "xy"), 0);
    cr_assert_eq(memcmp(b.base, "xy", 2), 0);
    buf_close(&b);
}

Test(buf, reset_keeps_storage)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_eq(buf_append_str(&b, "abc"), 0);
    char *base = b.base;
    size_t cap = b.cap;
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.base, base);
    cr_assert_eq(b.cap, cap);
    buf_close(&b);
}

Test(buf, steal_hands_over_storage_and_empties)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_eq(buf_append(&b, "abc", 4), 0);
    char *p = buf_steal(&b);
    cr_assert_str_eq(p, "abc");
    cr_assert_null(b.base);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 100, "the limit stays");
    cr_assert_eq(buf_append(&b, "z", 1), 0, "the buffer is reusable");
    free(p);
    buf_close(&b);
}

Test(buf, as_uv_shares_base_and_len)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_eq(buf_append(&b, "abcde", 5), 0);
    uv_buf_t u = buf_as_uv(&b);
    cr_assert_eq(u.base, b.base);
    cr_assert_eq(u.len, 5);
    buf_close(&b);
}
