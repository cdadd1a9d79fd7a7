/* test_client_backoff.c - the poll retry schedule. */
#include <criterion/criterion.h>

#include "../../client/backoff.h"

Test(backoff, grows_by_one_and_a_half_up_to_the_cap_without_jitter)
{
    struct backoff b;
    backoff_init(&b, 1000, 5000);
    uint64_t want[] = {1000, 1500, 2250, 3375, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_eq(backoff_next(&b, 0.0), want[i], "step %zu", i);
}

Test(backoff, jitter_stays_between_half_and_full_interval)
{
    struct backoff b;
    backoff_init(&b, 1000, 5000);
    cr_assert_eq(backoff_next(&b, 0.999999), 500);
    for (int i = 0; i < 100; i++) {
        uint64_t w = backoff_next(&b, (i % 10) / 10.0);
        cr_assert_leq(w, 5000);
        cr_assert_geq(w, 750); /* half of 1500, the smallest interval from here on */
    }
}

Test(backoff, never_exceeds_max_wait_even_after_many_failures)
{
    struct backoff b;
    backoff_init(&b, 1000, 5000);
    for (int i = 0; i < 10000; i++)
        cr_assert_leq(backoff_next(&b, 0.0), 5000);
    cr_assert_eq(b.failures, 10000);
}

Test(backoff, success_resets_to_initial_wait)
{
    struct backoff b;
    backoff_init(&b, 1000, 5000);
    for (int i = 0; i < 5; i++)
        backoff_next(&b, 0.0);
    backoff_reset(&b);
    cr_assert_eq(b.failures, 0);
    cr_assert_eq(backoff_next(&b, 0.0), 1000);
}

Test(backoff, max_below_initial_is_raised)
{
    struct backoff b;
    backoff_init(&b, 2000, 100);
    cr_assert_eq(backoff_next(&b, 0.0), 2000);
    cr_assert_eq(backoff_next(&b, 0.0), 2000);
}
