/* test_proxy_registry.c - the routing table: one shard's polls, queued scrapes and
 * /clients, driven by the messages other workers would send, with the answers read back
 * through the receivers this test gives the inboxes. Two inboxes exist, each on its own
 * loop; shard 0 owns the FQDNs used here and answers through inbox 0. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fqdn.h"
#include "inbox.h"
#include "registry.h"

#define N 2

static char fqdn[32];
static uv_loop_t loops[N];
static struct counters counters[N];
static struct inbox_group group;
static struct inbox inboxes[N];
static struct registry shards[N];
static struct list received[N]; /* what each inbox's receiver got, in order */

/* The receiver given to inbox i: keeps the message for take(). */
static void capture(void *ctx, struct msg *m)
{
    list_push_back(&received[(uintptr_t)ctx], &m->link);
}

static void setup(void)
{
    memset(&config, 0, sizeof(config));
    config.poll_max_per_fqdn = 2;
    config.scrape_max_queued_per_fqdn = 2;
    config.registration_max_fqdns = 3;
    config.registration_timeout = 5000;
    config.scrape_client_gone_grace = 3000;
    cr_assert_eq(inbox_group_init(&group, N), 0);
    for (uint16_t i = 0; i < N; i++) {
        list_init(&received[i]);
        counters_init(&counters[i]);
        cr_assert_eq(uv_loop_init(&loops[i]), 0);
        cr_assert_eq(inbox_init(&inboxes[i], &group, i, &loops[i], capture, (void *)(uintptr_t)i,
                                &counters[i]),
                     0);
        cr_assert_eq(registry_init(&shards[i], &loops[i], &inboxes[i], &counters[i]), 0);
    }
    /* An FQDN whose shard is 0. */
    for (int i = 0;; i++) {
        snprintf(fqdn, sizeof(fqdn), "host%d.test", i);
        if (fqdn_owner(fqdn, strlen(fqdn), N) == 0)
            break;
    }
}

static void teardown(void)
{
    struct list *l;

    for (uint16_t i = 0; i < N; i++) {
        inbox_close_handles(&inboxes[i]);
        registry_close_handles(&shards[i]);
        uv_run(&loops[i], UV_RUN_NOWAIT);
        inbox_close(&inboxes[i]);
        registry_close(&shards[i]);
        uv_loop_close(&loops[i]);
        while ((l = list_pop_front(&received[i])) != NULL)
            msg_free(list_entry(l, struct msg, link));
    }
    inbox_group_close(&group);
}

/* The next message shard 0 sent to inbox `to`, or NULL: runs that inbox's loop once so its
 * receiver gets what arrived. */
static struct msg *take(uint16_t to)
{
    struct list *l;

    uv_run(&loops[to], UV_RUN_NOWAIT);
    l = list_pop_front(&received[to]);
    return l ? list_entry(l, struct msg, link) : NULL;
}

static struct msg *poll_wait(uint16_t from_wk, uint32_t conn, const char *name)
{
    struct msg *m = msg_new(MSG_POLL_WAIT, name, strlen(name));
    m->from = from_wk;
    m->ref = (struct ref){.wk = from_wk, .idx = conn, .gen = 7};
    return m;
}

static struct msg *scrape(uint32_t slot, uint64_t deadline, const char *name)
{
    struct msg *m = msg_new(MSG_SCRAPE, name, strlen(name));
    m->from = 1;
    m->u.job.scrape = (struct ref){.wk = 1, .idx = slot, .gen = 1};
    m->u.job.token = 0x5eed0000u + slot;
    m->u.job.deadline_ms = deadline;
    m->u.job.req = strdup("GET http://x/ HTTP/1.1\r\n\r\n");
    m->u.job.req_len = strlen(m->u.job.req);
    return m;
}

static uint64_t now(void)
{
    return uv_now(&loops[0]);
}

TestSuite(proxy_registry, .init = setup, .fini = teardown);

Test(proxy_registry, scrape_goes_to_the_waiting_poll)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 42, fqdn));
    cr_assert_null(take(1), "a poll alone sends nothing");
    registry_on_scrape(r, scrape(5, now() + 10000, fqdn));
    struct msg *d = take(1);
    cr_assert_not_null(d);
    cr_assert_eq(d->type, MSG_DELIVER);
    cr_assert_eq(d->ref.idx, 42);
    cr_assert_eq(d->ref.gen, 7);
    cr_assert_eq(d->u.job.scrape.idx, 5);
    msg_free(d);
    cr_assert_eq(metrics_get(&counters[0].polls_waiting), 0);
}

Test(proxy_registry, scrape_without_poll_waits_for_the_next_poll)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(9, now() + 10000, fqdn));
    cr_assert_null(take(1));
    registry_on_poll_wait(r, poll_wait(1, 3, fqdn));
    struct msg *d = take(1);
    cr_assert_not_null(d);
    cr_assert_eq(d->type, MSG_DELIVER);
    cr_assert_eq(d->ref.idx, 3);
    cr_assert_eq(d->u.job.scrape.idx, 9);
    msg_free(d);
}

Test(proxy_registry, newest_poll_gets_the_work)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    registry_on_poll_wait(r, poll_wait(1, 2, fqdn));
    registry_on_scrape(r, scrape(0, now() + 10000, fqdn));
    struct msg *d = take(1);
    cr_assert_eq(d->type, MSG_DELIVER);
    cr_assert_eq(d->ref.idx, 2);
    msg_free(d);
}

Test(proxy_registry, poll_beyond_the_limit_evicts_the_oldest)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    registry_on_poll_wait(r, poll_wait(1, 2, fqdn));
    registry_on_poll_wait(r, poll_wait(1, 3, fqdn));
    struct msg *e = take(1);
    cr_assert_not_null(e);
    cr_assert_eq(e->type, MSG_POLL_EVICT);
    cr_assert_eq(e->ref.idx, 1);
    msg_free(e);
    cr_assert_eq(metrics_get(&counters[0].polls_waiting), 2);
    cr_assert_eq(metrics_get(&counters[0].limit_hits[LIMIT_POLL_MAX_PER_FQDN]), 1);
}

Test(proxy_registry, gone_poll_gets_no_work)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    struct msg *g = poll_wait(1, 1, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    registry_on_scrape(r, scrape(0, now() + 10000, fqdn));
    cr_assert_null(take(1), "the scrape must wait, not go to the gone poll");
}

Test(proxy_registry, full_queue_fails_the_scrape_with_503)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(0, now() + 10000, fqdn));
    registry_on_scrape(r, scrape(1, now() + 10000, fqdn));
    registry_on_scrape(r, scrape(2, now() + 10000, fqdn));
    struct msg *f = take(1);
    cr_assert_not_null(f);
    cr_assert_eq(f->type, MSG_SCRAPE_FAIL);
    cr_assert_eq(f->ref.idx, 2);
    cr_assert_eq(f->u.result.status, 503);
    msg_free(f);
}

Test(proxy_registry, expired_queued_scrape_is_not_delivered)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(0, now() + 10000, fqdn));
    /* A scrape whose deadline is already past is dropped on arrival. */
    registry_on_scrape(r, scrape(1, now(), fqdn));
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    registry_on_poll_wait(r, poll_wait(1, 2, fqdn));
    struct msg *d = take(1);
    cr_assert_eq(d->u.job.scrape.idx, 0);
    msg_free(d);
    cr_assert_null(take(1), "only the live scrape is delivered");
}

static const struct registry_listing targets_view = {
    .view = REGISTRY_VIEW_TARGETS, .replica_json = "r0", .wall_offset_ms = 0};

static bool listed(const char *name)
{
    struct buf out;
    char want[64];
    bool found;
    buf_init(&out, 1 << 20);
    cr_assert_eq(registry_write_clients(&shards[0], &out, now(), &targets_view), 0);
    snprintf(want, sizeof(want), "{\"targets\":[\"%s\"],\"labels\":{", name);
    found = out.len && memmem(out.base, out.len, want, strlen(want)) != NULL;
    buf_close(&out);
    return found;
}

Test(proxy_registry, idle_poll_stays_listed_past_registration_timeout)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    cr_assert(listed(fqdn));
    /* Long after the timeout the poll is still open: still listed, and not swept. */
    registry_sweep(r, now() + 10 * config.registration_timeout);
    cr_assert(listed(fqdn));
    cr_assert_eq(metrics_get(&counters[0].clients), 1);
}

Test(proxy_registry, gone_client_is_swept_after_registration_timeout)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    struct msg *g = poll_wait(1, 1, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    cr_assert(listed(fqdn), "listed within the timeout after its last poll");
    registry_sweep(r, now() + config.registration_timeout + 1);
    cr_assert_not(listed(fqdn));
    cr_assert_eq(r->n_records, 0);
}

Test(proxy_registry, scraped_only_fqdn_is_never_listed)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(0, now() + 10000, fqdn));
    cr_assert_not(listed(fqdn));
}

Test(proxy_registry, new_fqdn_beyond_the_limit_is_refused)
{
    struct registry *r = &shards[0];
    char names[4][32];
    int n = 0;
    for (int i = 0; n < 4; i++) {
        snprintf(names[n], sizeof(names[n]), "many%d.test", i);
        if (fqdn_owner(names[n], strlen(names[n]), N) == 0)
            n++;
    }
    for (int i = 0; i < 3; i++)
        registry_on_poll_wait(r, poll_wait(1, (uint32_t)i, names[i]));
    cr_assert_null(take(1));
    registry_on_poll_wait(r, poll_wait(1, 9, names[3]));
    struct msg *refused = take(1);
    cr_assert_not_null(refused);
    cr_assert_eq(refused->type, MSG_POLL_REFUSE);
    cr_assert_eq(refused->ref.idx, 9);
    msg_free(refused);
}

Test(proxy_registry, owner_is_stable_and_in_range)
{
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%d.example", i);
        uint16_t o = fqdn_owner(name, strlen(name), N);
        cr_assert_lt(o, N);
        cr_assert_eq(o, fqdn_owner(name, strlen(name), N));
    }
}

Test(proxy_registry, cancelled_scrape_leaves_the_queue)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(4, now() + 100000, fqdn));
    struct msg *c = msg_new(MSG_SCRAPE_CANCEL, fqdn, strlen(fqdn));
    c->from = 1;
    c->ref = (struct ref){.wk = 1, .idx = 4, .gen = 1};
    registry_on_scrape_cancel(r, c);
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    cr_assert_null(take(1), "a cancelled scrape must not reach a poll");
    /* Nothing queued, nothing listed: the record goes at the next sweep. */
    registry_sweep(r, now() + 1);
    cr_assert_eq(metrics_get(&counters[0].polls_waiting), 1);
}

Test(proxy_registry, cancel_of_another_scrape_keeps_the_queued_one)
{
    struct registry *r = &shards[0];
    registry_on_scrape(r, scrape(4, now() + 100000, fqdn));
    struct msg *c = msg_new(MSG_SCRAPE_CANCEL, fqdn, strlen(fqdn));
    c->ref = (struct ref){.wk = 1, .idx = 5, .gen = 1};
    registry_on_scrape_cancel(r, c);
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    struct msg *d = take(1);
    cr_assert_not_null(d);
    cr_assert_eq(d->u.job.scrape.idx, 4);
    msg_free(d);
}

static char *listing(enum registry_view view)
{
    struct buf out;
    struct registry_listing how = {.view = view, .replica_json = "r0", .wall_offset_ms = 0};
    buf_init(&out, 1 << 20);
    cr_assert_eq(registry_write_clients(&shards[0], &out, now(), &how), 0);
    buf_append(&out, "", 1);
    return buf_steal(&out);
}

/* What a client announces with its poll is kept and shown in each view; a later poll that
 * announces something else replaces it. */
Test(proxy_registry, announced_labels_and_exporters_are_listed)
{
    static const char meta[] = "rack=r1\n9100,9187/metrics";
    struct msg *m = msg_new_meta(MSG_POLL_WAIT, fqdn, strlen(fqdn), meta, sizeof(meta) - 1);
    m->from = 1;
    m->ref = (struct ref){.wk = 1, .idx = 1, .gen = 7};
    registry_on_poll_wait(&shards[0], m);
    char *t = listing(REGISTRY_VIEW_TARGETS);
    cr_assert(strstr(t, "\"__meta_pushprox_label_rack\":\"r1\""), "%s", t);
    cr_assert(strstr(t, "\"__meta_pushprox_exporters\":\"9100,9187/metrics\""), "%s", t);
    cr_assert(strstr(t, "\"__meta_pushprox_replica\":\"r0\""), "%s", t);
    free(t);
    t = listing(REGISTRY_VIEW_EXPORTERS);
    char want[128];
    snprintf(want, sizeof(want), "{\"targets\":[\"%s:9187\"]", fqdn);
    cr_assert(strstr(t, want), "%s", t);
    cr_assert(strstr(t, "\"__metrics_path__\":\"/metrics\""), "%s", t);
    free(t);
    t = listing(REGISTRY_VIEW_DETAIL);
    cr_assert(strstr(t, "\"labels\":{\"rack\":\"r1\"},\"exporters\":[\"9100\",\"9187/metrics\"]"),
              "%s", t);
    free(t);
    /* A new announcement replaces the old one. */
    static const char meta2[] = "rack=r2\n";
    m = msg_new_meta(MSG_POLL_WAIT, fqdn, strlen(fqdn), meta2, sizeof(meta2) - 1);
    m->from = 1;
    m->ref = (struct ref){.wk = 1, .idx = 2, .gen = 7};
    registry_on_poll_wait(&shards[0], m);
    t = listing(REGISTRY_VIEW_TARGETS);
    cr_assert(strstr(t, "\"__meta_pushprox_label_rack\":\"r2\""), "%s", t);
    cr_assert_null(strstr(t, "__meta_pushprox_exporters"), "%s", t);
    free(t);
    t = listing(REGISTRY_VIEW_EXPORTERS);
    cr_assert_str_eq(t, "", "no exporters, no exporter targets");
    free(t);
}

/* Scrapes are counted per client, and so are the errors the scrape's worker reports. */
Test(proxy_registry, detail_counts_scrapes_and_errors)
{
    registry_on_poll_wait(&shards[0], poll_wait(1, 1, fqdn));
    registry_on_scrape(&shards[0], scrape(0, now() + 10000, fqdn));
    msg_free(take(1));
    struct msg *e = msg_new(MSG_SCRAPE_ERROR, fqdn, strlen(fqdn));
    registry_on_scrape_error(&shards[0], e);
    char *t = listing(REGISTRY_VIEW_DETAIL);
    cr_assert(strstr(t, "\"scrapes_total\":1,\"scrape_errors_total\":1"), "%s", t);
    free(t);
}

/* --- a client gone mid-scrape --- */

/* The first poll for the FQDN on connection `conn` (the connection is counted). */
static struct msg *first_poll(uint32_t conn, const char *name)
{
    struct msg *m = poll_wait(1, conn, name);
    m->u.poll.new_conn = true;
    return m;
}

/* A counted connection closed, with its poll waiting (as a killed client's does). */
static struct msg *conn_gone(const char *name)
{
    struct msg *m = msg_new(MSG_CONN_GONE, name, strlen(name));
    m->from = 1;
    m->u.poll.waiting = true;
    return m;
}

/* The same, closed between requests (no poll waiting). */
static struct msg *conn_closed_idle(const char *name)
{
    struct msg *m = conn_gone(name);
    m->u.poll.waiting = false;
    return m;
}

/* A poll on connection `conn`, then a scrape in slot `slot` delivered to it. */
static void deliver_one(uint32_t conn, bool first, uint32_t slot, uint64_t deadline)
{
    registry_on_poll_wait(&shards[0], first ? first_poll(conn, fqdn) : poll_wait(1, conn, fqdn));
    registry_on_scrape(&shards[0], scrape(slot, deadline, fqdn));
    struct msg *d = take(1);
    cr_assert_not_null(d);
    cr_assert_eq(d->type, MSG_DELIVER);
    cr_assert_eq(d->u.job.scrape.idx, slot);
    msg_free(d);
}

Test(proxy_registry, client_gone_fails_the_delivered_scrape_after_the_grace)
{
    struct registry *r = &shards[0];
    uint64_t t0 = now();
    deliver_one(1, true, 5, t0 + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, t0 + 2999);
    cr_assert_null(take(1), "nothing before the grace runs out");
    registry_expire_gone(r, t0 + 3000);
    struct msg *f = take(1);
    cr_assert_not_null(f);
    cr_assert_eq(f->type, MSG_SCRAPE_FAIL);
    cr_assert_eq(f->ref.wk, 1);
    cr_assert_eq(f->ref.idx, 5);
    cr_assert_eq(f->ref.gen, 1);
    cr_assert_eq(f->u.result.status, 502);
    cr_assert(f->u.result.client_gone);
    cr_assert(strstr(f->u.result.reason, "connections closed"), "%s", f->u.result.reason);
    msg_free(f);
    cr_assert_null(take(1), "one failure per scrape");
    registry_expire_gone(r, t0 + 10000);
    cr_assert_null(take(1), "and only once");
}

/* The uv timer does the same on the shard's loop. */
Test(proxy_registry, client_gone_timer_fires_on_the_loop)
{
    config.scrape_client_gone_grace = 1;
    deliver_one(1, true, 6, now() + 60000);
    registry_on_conn_gone(&shards[0], conn_gone(fqdn));
    struct msg *f = NULL;
    for (int i = 0; i < 200 && !f; i++) { /* at most 2 s */
        uv_sleep(10);
        uv_run(&loops[0], UV_RUN_NOWAIT);
        f = take(1);
    }
    cr_assert_not_null(f, "the grace timer never fired");
    cr_assert_eq(f->type, MSG_SCRAPE_FAIL);
    cr_assert_eq(f->ref.idx, 6);
    msg_free(f);
}

Test(proxy_registry, client_polling_again_within_the_grace_keeps_its_scrape)
{
    struct registry *r = &shards[0];
    uint64_t t0 = now();
    deliver_one(1, true, 5, t0 + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_on_poll_wait(r, first_poll(2, fqdn)); /* reconnected */
    registry_expire_gone(r, t0 + 5000);
    cr_assert_null(take(1), "a client that came back keeps its scrape");
    /* Its new connection closing later starts a grace of its own. */
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, t0 + 9000);
    cr_assert_null(take(1), "the poll still waits: not gone");
}

Test(proxy_registry, another_open_connection_keeps_the_scrape)
{
    struct registry *r = &shards[0];
    uint64_t t0 = now();
    registry_on_poll_wait(r, first_poll(2, fqdn));
    struct msg *g = poll_wait(1, 2, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    deliver_one(1, true, 5, t0 + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, t0 + 10000);
    cr_assert_null(take(1), "one connection of two closed: the client is not gone");
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, now() + 2999);
    cr_assert_null(take(1), "the grace starts at the last close");
    registry_expire_gone(r, now() + 3000);
    struct msg *f = take(1);
    cr_assert_not_null(f);
    cr_assert_eq(f->u.result.status, 502);
    msg_free(f);
}

Test(proxy_registry, repeated_polls_on_one_connection_count_it_once)
{
    struct registry *r = &shards[0];
    deliver_one(1, true, 1, now() + 60000);
    deliver_one(1, false, 2, now() + 60000);
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn));
    struct msg *g = poll_wait(1, 1, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, now() + 3000);
    for (uint32_t want = 1; want <= 2; want++) {
        struct msg *f = take(1);
        cr_assert_not_null(f);
        cr_assert_eq(f->ref.idx, want);
        msg_free(f);
    }
    cr_assert_null(take(1));
}

Test(proxy_registry, scrape_past_its_deadline_is_not_failed)
{
    struct registry *r = &shards[0];
    uint64_t t0 = now();
    deliver_one(1, true, 5, t0 + 1000);
    deliver_one(1, false, 6, t0 + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, t0 + 3000);
    struct msg *f = take(1);
    cr_assert_not_null(f);
    cr_assert_eq(f->ref.idx, 6, "only the scrape still within its deadline");
    msg_free(f);
    cr_assert_null(take(1));
}

Test(proxy_registry, redelivered_or_cancelled_scrape_is_forgotten)
{
    struct registry *r = &shards[0];
    uint64_t t0 = now();
    deliver_one(1, true, 5, t0 + 60000);
    deliver_one(1, false, 7, t0 + 60000);
    /* The poll was gone when the DELIVER arrived: it comes back, and is queued. */
    struct msg *re = scrape(5, t0 + 60000, fqdn);
    re->type = MSG_REDELIVER;
    registry_on_scrape(r, re);
    struct msg *c = msg_new(MSG_SCRAPE_CANCEL, fqdn, strlen(fqdn));
    c->ref = (struct ref){.wk = 1, .idx = 7, .gen = 1};
    registry_on_scrape_cancel(r, c);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, t0 + 3000);
    cr_assert_null(take(1), "the redelivered one waits in the queue; the cancelled one is gone");
}

Test(proxy_registry, delivered_scrapes_remembered_are_bounded)
{
    struct registry *r = &shards[0];
    uint32_t n = REGISTRY_DELIVERED_MAX + 3;
    for (uint32_t i = 0; i < n; i++)
        deliver_one(1, i == 0, i, now() + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, now() + 3000);
    for (uint32_t i = n - REGISTRY_DELIVERED_MAX; i < n; i++) {
        struct msg *f = take(1);
        cr_assert_not_null(f, "scrape %u", i);
        cr_assert_eq(f->ref.idx, i, "the newest are kept, oldest first");
        msg_free(f);
    }
    cr_assert_null(take(1), "the oldest were forgotten");
}

/* A push arriving on the owner: answered there only for a scrape it delivered, with the
 * scrape's own token, once, and not near the scrape's deadline. */
Test(proxy_registry, owner_takes_a_push_for_a_scrape_it_delivered_once)
{
    struct registry *r = &shards[0];
    struct ref slot5 = {.wk = 1, .idx = 5, .gen = 1};
    deliver_one(1, true, 5, now() + 60000);
    cr_assert_not(registry_take_delivered(r, fqdn, strlen(fqdn), slot5, 0x5eed0000u + 6),
                  "a wrong token is not taken");
    cr_assert_not(registry_take_delivered(r, "other.test", 10, slot5, 0x5eed0000u + 5),
                  "another FQDN's push is not taken");
    struct ref gen2 = slot5;
    gen2.gen = 2;
    cr_assert_not(registry_take_delivered(r, fqdn, strlen(fqdn), gen2, 0x5eed0000u + 5),
                  "another generation of the slot is not taken");
    cr_assert(registry_take_delivered(r, fqdn, strlen(fqdn), slot5, 0x5eed0000u + 5));
    cr_assert_not(registry_take_delivered(r, fqdn, strlen(fqdn), slot5, 0x5eed0000u + 5),
                  "a second push with the same Id goes to the scrape's worker");
    /* Taken, it is not failed when the client goes afterwards. */
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, now() + 3000);
    cr_assert_null(take(1));
}

Test(proxy_registry, owner_leaves_a_push_near_its_deadline_to_the_scrape_worker)
{
    struct registry *r = &shards[0];
    struct ref slot5 = {.wk = 1, .idx = 5, .gen = 1};
    deliver_one(1, true, 5, now() + REGISTRY_PUSH_MARGIN_MS);
    cr_assert_not(registry_take_delivered(r, fqdn, strlen(fqdn), slot5, 0x5eed0000u + 5));
}

Test(proxy_registry, owner_does_not_take_a_push_whose_scrape_was_cancelled)
{
    struct registry *r = &shards[0];
    struct ref slot5 = {.wk = 1, .idx = 5, .gen = 1};
    deliver_one(1, true, 5, now() + 60000);
    struct msg *c = msg_new(MSG_SCRAPE_CANCEL, fqdn, strlen(fqdn));
    c->ref = slot5;
    registry_on_scrape_cancel(r, c);
    cr_assert_not(registry_take_delivered(r, fqdn, strlen(fqdn), slot5, 0x5eed0000u + 5));
}

Test(proxy_registry, zero_grace_waits_for_the_timeout)
{
    config.scrape_client_gone_grace = 0;
    deliver_one(1, true, 5, now() + 60000);
    registry_on_conn_gone(&shards[0], conn_gone(fqdn));
    registry_expire_gone(&shards[0], now() + 100000);
    cr_assert_null(take(1));
}

Test(proxy_registry, uncounted_connections_change_nothing)
{
    struct registry *r = &shards[0];
    /* A poll without the flag (its connection was counted before) and stray CONN_GONEs:
     * the count never goes below zero and nothing fails. */
    deliver_one(1, false, 5, now() + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_on_conn_gone(r, conn_gone("nobody.test"));
    registry_expire_gone(r, now() + 10000);
    cr_assert_null(take(1));
    /* A counted connection still works afterwards: both scrapes delivered fail. */
    deliver_one(1, true, 6, now() + 60000);
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_expire_gone(r, now() + 3000);
    for (uint32_t want = 5; want <= 6; want++) {
        struct msg *f = take(1);
        cr_assert_not_null(f);
        cr_assert_eq(f->ref.idx, want);
        msg_free(f);
    }
}

Test(proxy_registry, record_with_an_open_connection_is_not_swept)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, first_poll(1, fqdn));
    struct msg *g = poll_wait(1, 1, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    registry_sweep(r, now() + 10 * config.registration_timeout);
    cr_assert_eq(r->n_records, 1, "its connection is still counted");
    registry_on_conn_gone(r, conn_gone(fqdn));
    registry_sweep(r, now() + 10 * config.registration_timeout);
    cr_assert_eq(r->n_records, 0);
}

/* A client that polls only after it pushed, and closes its connection after each poll's
 * answer, has no connection open while it scrapes: that is not a client gone. */
Test(proxy_registry, orderly_close_between_polls_is_not_gone)
{
    struct registry *r = &shards[0];
    deliver_one(1, true, 5, now() + 60000);
    registry_on_conn_gone(r, conn_closed_idle(fqdn));
    registry_expire_gone(r, now() + 10000);
    cr_assert_null(take(1), "no poll was cut off: the scrape waits for its push");
}

/* A killed client closes its waiting poll's connection and its idle one, in any order. */
Test(proxy_registry, cut_poll_then_idle_close_is_gone)
{
    struct registry *r = &shards[0];
    registry_on_poll_wait(r, first_poll(2, fqdn)); /* an idle keep-alive connection */
    struct msg *g = poll_wait(1, 2, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    deliver_one(1, true, 5, now() + 60000);
    registry_on_poll_wait(r, poll_wait(1, 1, fqdn)); /* polls again at once */
    g = poll_wait(1, 1, fqdn);
    g->type = MSG_POLL_GONE;
    registry_on_poll_gone(r, g);
    registry_on_conn_gone(r, conn_gone(fqdn));        /* the poll's, cut */
    registry_on_conn_gone(r, conn_closed_idle(fqdn)); /* then the idle one */
    registry_expire_gone(r, now() + 3000);
    struct msg *f = take(1);
    cr_assert_not_null(f);
    cr_assert_eq(f->ref.idx, 5);
    msg_free(f);
}
