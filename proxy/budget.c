/* budget.c - push bytes held in memory (see budget.h). Owner: the counter is shared by
 * every worker and only ever changed atomically; the limit is written once before the
 * workers start. */
#include "budget.h"

static uint64_t used;
static uint64_t limit;

void budget_init(uint64_t max_bytes)
{
    limit = max_bytes;
    __atomic_store_n(&used, 0, __ATOMIC_RELAXED);
}

bool budget_take(uint64_t n)
{
    uint64_t now = __atomic_load_n(&used, __ATOMIC_RELAXED);

    do {
        if (n > limit || now > limit - n)
            return false;
    } while (!__atomic_compare_exchange_n(&used, &now, now + n, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return true;
}

void budget_give(uint64_t n)
{
    __atomic_sub_fetch(&used, n, __ATOMIC_RELAXED);
}

uint64_t budget_used(void)
{
    return __atomic_load_n(&used, __ATOMIC_RELAXED);
}
