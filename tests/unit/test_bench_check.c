/* test_bench_check.c - how the bench writes its bodies and judges scrape responses. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/check.h"

/* A whole body as a simulated client makes it: the bench line, then filler. */
static char *make_body(const char *fqdn, const char *id, uint64_t want, size_t *len)
{
    char line[CHECK_LINE_MAX];
    uint64_t total = 0;
    int n = check_write_line(line, sizeof(line), fqdn, id, strlen(id), want, &total);
    cr_assert_gt(n, 0);
    cr_assert_eq((total - (uint64_t)n) % CHECK_FILLER_LINE, 0);
    char *b = malloc(total);
    memcpy(b, line, (size_t)n);
    check_fill(b + n, total - (size_t)n);
    *len = total;
    return b;
}

Test(bench_check, good_response_is_ok_and_yields_the_id)
{
    size_t len;
    char *b = make_body("c17.bench", "0.12.3.abcdef", 20000, &len);
    cr_assert_eq(len, 20000);
    uint64_t h = 0;
    cr_assert_eq(check_response("c17.bench", 200, b, len, 20000, &h), CHECK_OK);
    cr_assert_eq(h, check_id_hash("0.12.3.abcdef", 13));
    cr_assert_eq(b[len - 1], '\n');
    free(b);
}

Test(bench_check, body_smaller_than_the_line_is_just_the_line)
{
    size_t len;
    char *b = make_body("c1.bench", "x", 10, &len);
    cr_assert_gt(len, 10);
    uint64_t h;
    cr_assert_eq(check_response("c1.bench", 200, b, len, 10, &h), CHECK_OK);
    free(b);
}

Test(bench_check, wrong_fqdn_is_misrouted)
{
    size_t len;
    char *b = make_body("c18.bench", "id1", 1000, &len);
    uint64_t h;
    cr_assert_eq(check_response("c17.bench", 200, b, len, 1000, &h), CHECK_MISROUTED);
    /* A prefix of the right name is not the right name. */
    cr_assert_eq(check_response("c1.bench", 200, b, len, 1000, &h), CHECK_MISROUTED);
    free(b);
}

Test(bench_check, bad_status_and_proxy_timeout_are_told_apart)
{
    uint64_t h;
    const char *t = "Error scraping \"http://c1.bench:9100/metrics\": timeout";
    cr_assert_eq(check_response("c1.bench", 500, t, strlen(t), 100, &h), CHECK_TIMEOUT);
    cr_assert_eq(check_response("c1.bench", 500, "boom", 4, 100, &h), CHECK_STATUS);
    cr_assert_eq(check_response("c1.bench", 503, "", 0, 100, &h), CHECK_STATUS);
    cr_assert_eq(check_response("c1.bench", 404, t, strlen(t), 100, &h), CHECK_STATUS);
}

Test(bench_check, truncated_or_foreign_body_is_a_body_error)
{
    size_t len;
    char *b = make_body("c2.bench", "id2", 5000, &len);
    uint64_t h;
    cr_assert_eq(check_response("c2.bench", 200, b, len - 64, 5000, &h), CHECK_BODY);
    cr_assert_eq(check_response("c2.bench", 200, b, len, 6000, &h), CHECK_BODY);
    const char *other = "# HELP node_cpu_seconds_total x\n";
    cr_assert_eq(check_response("c2.bench", 200, other, strlen(other), 0, &h), CHECK_BODY);
    cr_assert_eq(check_response("c2.bench", 200, "", 0, 0, &h), CHECK_BODY);
    free(b);
}

Test(bench_check, parse_line_reads_fields)
{
    size_t len;
    char *b = make_body("c3.bench", "w1.s2.g3.r4", 300, &len);
    struct check_line ln;
    cr_assert_eq(check_parse_line(b, len, &ln), 0);
    cr_assert_eq(ln.fqdn_len, 8);
    cr_assert(memcmp(ln.fqdn, "c3.bench", 8) == 0);
    cr_assert_eq(ln.id_len, 11);
    cr_assert(memcmp(ln.id, "w1.s2.g3.r4", 11) == 0);
    cr_assert_eq(ln.len, 300);
    const char *bad[] = {"# bench fqdn= id=x len=1\n", "# bench fqdn=a id= len=1\n",
                         "# bench fqdn=a id=x len=\n", "# bench fqdn=a id=x len=1", "nope\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(check_parse_line(bad[i], strlen(bad[i]), &ln), -EINVAL, "%s", bad[i]);
    free(b);
}

Test(bench_check, duplicate_ids_are_counted)
{
    struct idvec v = {0};
    uint64_t ids[] = {5, 3, 9, 3, 1, 9, 9};
    for (size_t i = 0; i < 7; i++)
        cr_assert_eq(idvec_push(&v, ids[i]), 0);
    idvec_sort(&v);
    /* 3 twice (1 extra), 9 three times (2 extra). */
    cr_assert_eq(check_idvec_dups(&v), 3);
    idvec_close(&v);
}

Test(bench_check, ids_no_client_pushed_are_counted)
{
    struct idvec pushed = {0}, scraped = {0};
    for (uint64_t i = 0; i < 100; i++)
        idvec_push(&pushed, check_id_hash((char *)&i, sizeof(i)));
    for (uint64_t i = 50; i < 110; i++)
        idvec_push(&scraped, check_id_hash((char *)&i, sizeof(i)));
    idvec_sort(&pushed);
    idvec_sort(&scraped);
    cr_assert_eq(check_idvec_missing(&scraped, &pushed), 10);
    cr_assert_eq(check_idvec_dups(&pushed), 0);
    idvec_close(&pushed);
    idvec_close(&scraped);
}
