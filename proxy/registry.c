/* registry.c - one worker's shard of the client table (see registry.h).
 *
 * Owner: the shard's worker is its only reader and writer; the ck_ht is used in its
 * single-writer mode with no concurrent reader, so a removed record is freed at once.
 * Every other worker reaches a record only by sending a message to this one.
 *
 * A record holds, for one FQDN:
 *   - the polls waiting for it, as refs, oldest first; work goes to the newest (the one
 *     most likely to sit on a live connection), and past --poll.max-per-fqdn the oldest
 *     is answered 408, as upstream answers the poll a newer one replaces;
 *   - the scrapes waiting for a poll (the SCRAPE messages themselves), oldest first, at
 *     most --scrape.max-queued-per-fqdn;
 *   - when a poll last began or ended, for /clients and --registration.timeout;
 *   - how many connections have polled for it (n_conns: a connection counts from its first
 *     poll for the FQDN, flagged in POLL_WAIT, until CONN_GONE), and the scrapes handed to
 *     its polls lately (at most REGISTRY_DELIVERED_MAX, until their deadlines). When the
 *     last connection goes while such scrapes may still wait for their push, and one of
 *     them closed with its poll waiting since the FQDN last polled (a client that keeps
 *     polling while it scrapes, as upstream's does, was cut off; a client that polls only
 *     after it pushed and closes its connection in between is not taken for gone), the
 *     record joins the shard's gone list; if no connection polls for the FQDN within
 *     --scrape.client-gone-grace, each of those scrapes is failed (SCRAPE_FAIL, 502) rather
 *     than left to its timeout: the process that would have pushed is gone. A scrape already
 *     answered is left alone by its worker (the slot's generation has moved on). This costs
 *     no message per scrape: only one per connection that closes. The same list lets a push
 *     that arrives here, on the FQDN's owner, be answered at once (registry_take_delivered).
 * A record with nothing waiting, no connection, that /clients would no longer list is
 * swept. */
#include "registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "announce.h"
#include "config.h"
#include "fqdn.h"
#include "log.h"

/* ck_ht's first size; it grows by doubling. */
#define REGISTRY_INITIAL_SIZE 1024
/* Removals after which the sweep compacts the table's tombstones. */
#define REGISTRY_GC_AFTER 4096

/* A scrape handed to a poll, whose push may still come. */
struct delivered {
    struct ref scrape;
    uint64_t token;
    uint64_t deadline_ms;
};

struct record {
    struct record *next_dead; /* sweep's list of records to remove */
    uint64_t last_seen_ms;    /* 0: never polled (created by a scrape) */
    int64_t since_wall_ms;    /* connected (listed) without a break since, on the wall clock:
                               * read once, so two /clients reads show the same time */
    uint64_t scrapes, scrape_errors;
    char *meta; /* what the client announced: its labels header, '\n', its exporters */
    uint16_t meta_len;
    struct ref *polls; /* oldest first */
    uint32_t n_polls, cap_polls;
    struct list queue; /* SCRAPE messages waiting for a poll, oldest first */
    uint32_t n_queued;
    uint32_t n_conns;      /* connections that polled for it and are still open */
    struct delivered *dlv; /* [cap_dlv], oldest first; made at the first delivery */
    uint8_t n_dlv, cap_dlv;
    bool lost_poll;        /* a connection closed with its poll waiting, since the last poll */
    struct list gone_link; /* on the shard's gone list while the grace runs */
    uint64_t gone_at_ms;   /* when it runs out */
    uint16_t fqdn_len;
    char fqdn[];
};

static void *ht_malloc(size_t n)
{
    return malloc(n);
}

static void *ht_realloc(void *p, size_t old, size_t n, bool defer)
{
    return realloc(p, n);
}

static void ht_free(void *p, size_t n, bool defer)
{
    free(p); /* no concurrent readers: nothing to defer */
}

static struct ck_malloc ht_allocator = {
    .malloc = ht_malloc, .realloc = ht_realloc, .free = ht_free};

int registry_init(struct registry *r, uv_loop_t *loop, struct inbox *inbox,
                  struct counters *counters)
{
    uint64_t seed;

    memset(r, 0, sizeof(*r));
    list_init(&r->gone);
    if (uv_timer_init(loop, &r->gone_timer) != 0)
        return UV_ENOMEM;
    r->gone_timer.data = r;
    r->loop = loop;
    r->inbox = inbox;
    r->counters = counters;
    arc4random_buf(&seed, sizeof(seed));
    if (!ck_ht_init(&r->ht, CK_HT_MODE_BYTESTRING, NULL, &ht_allocator, REGISTRY_INITIAL_SIZE,
                    seed))
        return UV_ENOMEM;
    return 0;
}

void registry_close_handles(struct registry *r)
{
    if (r->loop && !uv_is_closing((uv_handle_t *)&r->gone_timer))
        uv_close((uv_handle_t *)&r->gone_timer, NULL);
}

static void record_free(struct record *rec)
{
    struct list *l;

    list_remove(&rec->gone_link);
    free(rec->dlv);
    while ((l = list_pop_front(&rec->queue)) != NULL)
        msg_free(list_entry(l, struct msg, link));
    free(rec->polls);
    free(rec->meta);
    free(rec);
}

void registry_close(struct registry *r)
{
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *e;

    if (!r->ht.map)
        return;
    while (ck_ht_next(&r->ht, &it, &e))
        record_free(ck_ht_entry_value(e));
    ck_ht_destroy(&r->ht);
    memset(r, 0, sizeof(*r));
}

static struct record *record_find(struct registry *r, const char *fqdn, size_t len)
{
    ck_ht_entry_t e;
    ck_ht_hash_t h;

    ck_ht_hash(&h, &r->ht, fqdn, (uint16_t)len);
    ck_ht_entry_key_set(&e, fqdn, (uint16_t)len);
    return ck_ht_get_spmc(&r->ht, h, &e) ? ck_ht_entry_value(&e) : NULL;
}

/* The record for fqdn, made if need be; NULL past --registration.max-fqdns. */
static struct record *record_get(struct registry *r, const char *fqdn, size_t len)
{
    struct record *rec = record_find(r, fqdn, len);
    ck_ht_entry_t e;
    ck_ht_hash_t h;

    if (rec)
        return rec;
    if (r->n_records >= (uint64_t)config.registration_max_fqdns) {
        counters_limit(r->counters, LIMIT_REGISTRATION_MAX_FQDNS);
        log_warn("registry", "new FQDN refused: limit reached",
                 LOG_STR("limit", "registration.max-fqdns"),
                 LOG_INT("max", config.registration_max_fqdns), LOG_STRN("fqdn", fqdn, len));
        return NULL;
    }
    if (!(rec = calloc(1, sizeof(*rec) + len + 1)))
        return NULL;
    memcpy(rec->fqdn, fqdn, len);
    rec->fqdn_len = (uint16_t)len;
    list_init(&rec->queue);
    ck_ht_hash(&h, &r->ht, rec->fqdn, (uint16_t)len);
    ck_ht_entry_set(&e, h, rec->fqdn, (uint16_t)len, rec);
    if (!ck_ht_put_spmc(&r->ht, h, &e)) {
        free(rec);
        return NULL;
    }
    r->n_records++;
    return rec;
}

static void record_remove(struct registry *r, struct record *rec)
{
    ck_ht_entry_t e;
    ck_ht_hash_t h;

    ck_ht_hash(&h, &r->ht, rec->fqdn, rec->fqdn_len);
    ck_ht_entry_key_set(&e, rec->fqdn, rec->fqdn_len);
    ck_ht_remove_spmc(&r->ht, h, &e);
    r->n_records--;
    r->n_removed++;
    record_free(rec);
}

static void polls_remove_at(struct registry *r, struct record *rec, uint32_t i)
{
    memmove(&rec->polls[i], &rec->polls[i + 1], (rec->n_polls - i - 1) * sizeof(*rec->polls));
    rec->n_polls--;
    metrics_add(&r->counters->polls_waiting, (uint64_t)-1); /* a gauge: wraps back */
}

static void queue_remove(struct record *rec, struct msg *m)
{
    list_remove(&m->link);
    rec->n_queued--;
}

/* The oldest queued scrape whose deadline has not passed; expired ones are dropped (their
 * worker has already answered Prometheus). */
static struct msg *queue_pop_live(struct record *rec, uint64_t now)
{
    struct list *l;

    while ((l = list_first(&rec->queue)) != NULL) {
        struct msg *m = list_entry(l, struct msg, link);
        queue_remove(rec, m);
        if (m->u.job.deadline_ms > now)
            return m;
        msg_free(m);
    }
    return NULL;
}

/* --- scrapes delivered, and clients gone --- */

static void dlv_drop_expired(struct record *rec, uint64_t now)
{
    uint8_t k = 0;

    for (uint8_t i = 0; i < rec->n_dlv; i++)
        if (rec->dlv[i].deadline_ms > now)
            rec->dlv[k++] = rec->dlv[i];
    rec->n_dlv = k;
}

static void dlv_remove(struct record *rec, struct ref scrape)
{
    for (uint8_t i = 0; i < rec->n_dlv; i++) {
        if (ref_eq(rec->dlv[i].scrape, scrape)) {
            memmove(&rec->dlv[i], &rec->dlv[i + 1], (rec->n_dlv - i - 1u) * sizeof(*rec->dlv));
            rec->n_dlv--;
            return;
        }
    }
}

/* Remembers a scrape handed to a poll, forgetting the oldest when REGISTRY_DELIVERED_MAX
 * are remembered already (or on ENOMEM: that one just waits for its timeout). */
static void dlv_add(struct record *rec, const struct scrape_job *job, uint64_t now)
{
    dlv_drop_expired(rec, now);
    if (rec->n_dlv == rec->cap_dlv && rec->cap_dlv < REGISTRY_DELIVERED_MAX) {
        uint8_t cap = rec->cap_dlv ? (uint8_t)(rec->cap_dlv * 2) : 2;
        struct delivered *d = realloc(rec->dlv, cap * sizeof(*d));
        if (d) {
            rec->dlv = d;
            rec->cap_dlv = cap;
        }
    }
    if (rec->cap_dlv == 0)
        return;
    if (rec->n_dlv == rec->cap_dlv) {
        memmove(&rec->dlv[0], &rec->dlv[1], (rec->n_dlv - 1u) * sizeof(*rec->dlv));
        rec->n_dlv--;
    }
    rec->dlv[rec->n_dlv++] = (struct delivered){
        .scrape = job->scrape, .token = job->token, .deadline_ms = job->deadline_ms};
}

static void on_gone_timer(uv_timer_t *t)
{
    struct registry *r = t->data;
    registry_expire_gone(r, uv_now(r->loop));
}

/* The record's last connection closed: its delivered scrapes get the grace period. */
static void gone_start(struct registry *r, struct record *rec, uint64_t now)
{
    uint64_t grace = config.scrape_client_gone_grace;

    if (!grace || list_linked(&rec->gone_link))
        return;
    dlv_drop_expired(rec, now);
    if (rec->n_dlv == 0)
        return;
    rec->gone_at_ms = now + grace;
    list_push_back(&r->gone, &rec->gone_link);
    if (!uv_is_active((uv_handle_t *)&r->gone_timer))
        uv_timer_start(&r->gone_timer, on_gone_timer, grace, 0);
}

/* Fails every delivered scrape of rec still within its deadline: 502 from its worker. */
static void fail_delivered(struct registry *r, struct record *rec, uint64_t now)
{
    for (uint8_t i = 0; i < rec->n_dlv; i++) {
        struct delivered *d = &rec->dlv[i];
        struct msg *m;
        if (d->deadline_ms <= now || !(m = msg_new(MSG_SCRAPE_FAIL, rec->fqdn, rec->fqdn_len)))
            continue;
        m->from = r->inbox->id;
        m->ref = d->scrape;
        m->u.result.status = 502;
        m->u.result.reason = "the client's connections closed before it pushed the answer";
        m->u.result.client_gone = true;
        inbox_send(r->inbox, d->scrape.wk, m);
    }
    rec->n_dlv = 0;
}

void registry_expire_gone(struct registry *r, uint64_t now_ms)
{
    struct list *l;

    while ((l = list_first(&r->gone)) != NULL) {
        struct record *rec = list_entry(l, struct record, gone_link);
        if (rec->gone_at_ms > now_ms) {
            uv_timer_start(&r->gone_timer, on_gone_timer, rec->gone_at_ms - now_ms, 0);
            return;
        }
        list_remove(l);
        if (rec->n_conns == 0 && rec->n_polls == 0)
            fail_delivered(r, rec, now_ms);
    }
}

bool registry_take_delivered(struct registry *r, const char *fqdn, size_t fqdn_len,
                             struct ref scrape, uint64_t token)
{
    struct record *rec = record_find(r, fqdn, fqdn_len);
    uint64_t now = uv_now(r->loop);

    if (!rec)
        return false;
    for (uint8_t i = 0; i < rec->n_dlv; i++) {
        struct delivered *d = &rec->dlv[i];
        if (!ref_eq(d->scrape, scrape) || d->token != token)
            continue;
        if (d->deadline_ms <= now + REGISTRY_PUSH_MARGIN_MS)
            return false; /* its worker may be answering it 500 now: let it say */
        dlv_remove(rec, scrape);
        return true;
    }
    return false;
}

void registry_on_conn_gone(struct registry *r, struct msg *m)
{
    struct record *rec = record_find(r, m->fqdn, m->fqdn_len);

    if (rec && rec->n_conns > 0) {
        rec->lost_poll |= m->u.poll.waiting;
        if (--rec->n_conns == 0 && rec->lost_poll)
            gone_start(r, rec, uv_now(r->loop));
    }
    msg_free(m);
}

/* Hands a scrape job to a poll: the job's message becomes the DELIVER. */
static void deliver(struct registry *r, struct record *rec, struct msg *job, struct ref poll)
{
    dlv_add(rec, &job->u.job, uv_now(r->loop));
    job->type = MSG_DELIVER;
    job->ref = poll;
    inbox_send(r->inbox, poll.wk, job);
}

/* Tells the scrape's worker that it cannot wait here: the message becomes SCRAPE_FAIL. */
static void refuse_scrape(struct registry *r, struct msg *m, int status, const char *reason)
{
    uint16_t to = m->u.job.scrape.wk;

    m->ref = m->u.job.scrape;
    free(m->u.job.req);
    m->type = MSG_SCRAPE_FAIL;
    m->u.result.status = status;
    m->u.result.reason = reason;
    m->u.result.client_gone = false;
    inbox_send(r->inbox, to, m);
}

static bool record_listed(const struct record *rec, uint64_t now)
{
    return rec->n_polls > 0 ||
           (rec->last_seen_ms && now - rec->last_seen_ms < config.registration_timeout);
}

/* Keeps what the client announced with this poll, if it changed (it seldom does). */
static void keep_meta(struct record *rec, const struct msg *m)
{
    char *copy = NULL;

    if (m->meta_len == rec->meta_len &&
        (m->meta_len == 0 || memcmp(msg_meta(m), rec->meta, m->meta_len) == 0))
        return;
    if (m->meta_len && !(copy = malloc(m->meta_len)))
        return; /* keep the old one */
    free(rec->meta);
    rec->meta = m->meta_len ? copy : NULL;
    if (m->meta_len)
        memcpy(rec->meta, msg_meta(m), m->meta_len);
    rec->meta_len = m->meta_len;
}

void registry_on_poll_wait(struct registry *r, struct msg *m)
{
    uint64_t now = uv_now(r->loop);
    struct record *rec = record_get(r, m->fqdn, m->fqdn_len);
    struct msg *job;

    if (!rec) {
        m->type = MSG_POLL_REFUSE;
        inbox_send(r->inbox, m->from, m);
        return;
    }
    if (!record_listed(rec, now)) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        rec->since_wall_ms =
            (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000; /* (re)connected */
    }
    rec->last_seen_ms = now;
    keep_meta(rec, m);
    if (m->u.poll.new_conn)
        rec->n_conns++;
    list_remove(&rec->gone_link); /* it polls: not gone */
    rec->lost_poll = false;
    if ((job = queue_pop_live(rec, now)) != NULL) {
        deliver(r, rec, job, m->ref);
        msg_free(m);
        return;
    }
    if (rec->n_polls == rec->cap_polls) {
        uint32_t cap = rec->cap_polls ? rec->cap_polls * 2 : 1;
        struct ref *p = realloc(rec->polls, cap * sizeof(*p));
        if (!p) {
            /* Refused: the connection is not counted (its worker forgets it polled). */
            if (rec->n_conns)
                rec->n_conns--;
            m->type = MSG_POLL_REFUSE;
            inbox_send(r->inbox, m->from, m);
            return;
        }
        rec->polls = p;
        rec->cap_polls = cap;
    }
    rec->polls[rec->n_polls++] = m->ref;
    metrics_inc(&r->counters->polls_waiting);
    if (rec->n_polls > (uint32_t)config.poll_max_per_fqdn) {
        /* The message goes back as the eviction of the oldest poll. */
        counters_limit(r->counters, LIMIT_POLL_MAX_PER_FQDN);
        m->type = MSG_POLL_EVICT;
        m->ref = rec->polls[0];
        polls_remove_at(r, rec, 0);
        inbox_send(r->inbox, m->ref.wk, m);
        return;
    }
    msg_free(m);
}

void registry_on_poll_gone(struct registry *r, struct msg *m)
{
    struct record *rec = record_find(r, m->fqdn, m->fqdn_len);

    if (rec) {
        rec->last_seen_ms = uv_now(r->loop);
        for (uint32_t i = 0; i < rec->n_polls; i++) {
            if (ref_eq(rec->polls[i], m->ref)) {
                polls_remove_at(r, rec, i);
                break;
            }
        }
    }
    msg_free(m);
}

/* SCRAPE (new) and REDELIVER (its poll was gone): give it to the newest poll, or queue it. */
/* What a scrape that cannot wait for a poll any more is told while the proxy drains. */
#define REGISTRY_DRAINING_TEXT                                                                     \
    "the proxy is shutting down and its client polls elsewhere now; try again"

void registry_on_scrape(struct registry *r, struct msg *m)
{
    uint64_t now = uv_now(r->loop);
    struct record *rec;

    if (m->u.job.deadline_ms <= now) {
        msg_free(m); /* its worker has answered Prometheus already */
        return;
    }
    if (r->released && (!(rec = record_find(r, m->fqdn, m->fqdn_len)) || rec->n_polls == 0)) {
        refuse_scrape(r, m, 503, REGISTRY_DRAINING_TEXT);
        return;
    }
    if (!(rec = record_get(r, m->fqdn, m->fqdn_len))) {
        refuse_scrape(r, m, 503, "too many FQDNs on this proxy (--registration.max-fqdns)");
        return;
    }
    if (m->type == MSG_SCRAPE)
        rec->scrapes++;
    else
        dlv_remove(rec, m->u.job.scrape); /* it never reached the client */
    if (rec->n_polls > 0) {
        struct ref poll = rec->polls[rec->n_polls - 1];
        polls_remove_at(r, rec, rec->n_polls - 1);
        deliver(r, rec, m, poll);
        return;
    }
    if (rec->n_queued >= (uint32_t)config.scrape_max_queued_per_fqdn) {
        counters_limit(r->counters, LIMIT_SCRAPE_MAX_QUEUED);
        rec->scrape_errors++;
        log_warn("registry", "scrape refused: limit reached",
                 LOG_STR("limit", "scrape.max-queued-per-fqdn"),
                 LOG_INT("max", config.scrape_max_queued_per_fqdn), LOG_STR("fqdn", rec->fqdn));
        refuse_scrape(r, m, 503,
                      "too many scrapes waiting for this client (--scrape.max-queued-per-fqdn)");
        return;
    }
    list_push_back(&rec->queue, &m->link);
    rec->n_queued++;
}

void registry_on_scrape_cancel(struct registry *r, struct msg *m)
{
    struct record *rec = record_find(r, m->fqdn, m->fqdn_len);
    struct list *l, *tmp;

    if (rec) {
        dlv_remove(rec, m->ref);
        list_for_each_safe(l, tmp, &rec->queue)
        {
            struct msg *q = list_entry(l, struct msg, link);
            if (ref_eq(q->u.job.scrape, m->ref)) {
                queue_remove(rec, q);
                msg_free(q);
                break;
            }
        }
    }
    msg_free(m);
}

void registry_release(struct registry *r)
{
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *e;

    r->released = true;
    while (ck_ht_next(&r->ht, &it, &e)) {
        struct record *rec = ck_ht_entry_value(e);
        struct list *l;
        while ((l = list_first(&rec->queue)) != NULL) {
            struct msg *m = list_entry(l, struct msg, link);
            queue_remove(rec, m);
            refuse_scrape(r, m, 503, REGISTRY_DRAINING_TEXT);
        }
    }
}

void registry_sweep(struct registry *r, uint64_t now_ms)
{
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *e;
    struct record *dead = NULL;
    uint64_t listed = 0;

    while (ck_ht_next(&r->ht, &it, &e)) {
        struct record *rec = ck_ht_entry_value(e);
        /* Drop queued scrapes whose deadline passed. */
        struct list *l, *tmp;
        list_for_each_safe(l, tmp, &rec->queue)
        {
            struct msg *m = list_entry(l, struct msg, link);
            if (m->u.job.deadline_ms <= now_ms) {
                queue_remove(rec, m);
                msg_free(m);
            }
        }
        if (record_listed(rec, now_ms))
            listed++;
        else if (rec->n_queued == 0 && rec->n_conns == 0 && !list_linked(&rec->gone_link)) {
            rec->next_dead = dead;
            dead = rec;
        }
    }
    while (dead) {
        struct record *next = dead->next_dead;
        record_remove(r, dead);
        dead = next;
    }
    if (r->n_removed >= REGISTRY_GC_AFTER) {
        ck_ht_gc(&r->ht, 0, 0);
        r->n_removed = 0;
    }
    metrics_set(&r->counters->clients, listed);
    metrics_set(&r->counters->fqdns, r->n_records);
}

void registry_on_scrape_error(struct registry *r, struct msg *m)
{
    struct record *rec = record_find(r, m->fqdn, m->fqdn_len);

    if (rec)
        rec->scrape_errors++;
    msg_free(m);
}

/* A uv_now() time (or, with a zero offset, a wall-clock one) as RFC 3339 UTC with
 * milliseconds. */
static int write_time(struct buf *out, int64_t mono_ms, int64_t wall_offset_ms)
{
    int64_t ms = mono_ms + wall_offset_ms;
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char text[32];

    gmtime_r(&sec, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    return buf_printf(out, "%s.%03dZ", text, (int)(ms % 1000));
}

/* The target of a client or of one of its exporters: the FQDN, bracketed when an IPv6
 * literal, with ":port" when port > 0. FQDNs hold only [A-Za-z0-9._-:]: nothing to escape. */
static int write_target(struct buf *out, const struct record *rec, int port)
{
    bool v6 = fqdn_is_ipv6(rec->fqdn, rec->fqdn_len);
    int rc = buf_printf(out, "%s%s%s", v6 ? "[" : "", rec->fqdn, v6 ? "]" : "");
    return rc || port <= 0 ? rc : buf_printf(out, ":%d", port);
}

/* The labels every http_sd group of a client carries, without the braces: ours, then the
 * client's own (checked by the poll's worker before they were kept). */
static int write_meta_labels(struct buf *out, const struct record *rec,
                             const struct registry_listing *how, const char *labels,
                             size_t labels_len, const char *exporters, size_t exporters_len)
{
    int rc = buf_printf(out,
                        "\"__meta_pushprox_fqdn\":\"%s\",\"__meta_pushprox_replica\":\"%s\","
                        "\"__meta_pushprox_connected_since\":\"",
                        rec->fqdn, how->replica_json);
    if (rc == 0)
        rc = write_time(out, rec->since_wall_ms, 0);
    if (rc == 0)
        rc = buf_append(out, "\"", 1);
    if (rc == 0 && exporters_len)
        rc = buf_printf(out, ",\"__meta_pushprox_exporters\":\"%.*s\"", (int)exporters_len,
                        exporters);
    if (rc == 0 && labels_len &&
        announce_labels_to_json(labels, labels_len, "__meta_pushprox_label_", true, out) != NULL)
        rc = -E2BIG;
    return rc;
}

/* One client for ?view=detail. */
static int write_detail(struct buf *out, const struct record *rec,
                        const struct registry_listing *how, const char *labels, size_t labels_len,
                        const char *exporters, size_t exporters_len)
{
    size_t pos = 0, plen;
    int port, rc;
    const char *path;

    rc = buf_printf(out, "{\"fqdn\":\"%s\",\"replica\":\"%s\",\"connected_since\":\"", rec->fqdn,
                    how->replica_json);
    if (rc == 0)
        rc = write_time(out, rec->since_wall_ms, 0);
    if (rc == 0)
        rc = buf_append_str(out, "\",\"last_poll\":\"");
    if (rc == 0)
        rc = write_time(out, (int64_t)rec->last_seen_ms, how->wall_offset_ms);
    if (rc == 0)
        rc = buf_printf(out,
                        "\",\"polls_waiting\":%u,\"scrapes_queued\":%u,\"scrapes_total\":%" PRIu64
                        ",\"scrape_errors_total\":%" PRIu64 ",\"labels\":{",
                        rec->n_polls, rec->n_queued, rec->scrapes, rec->scrape_errors);
    if (rc == 0 && labels_len && announce_labels_to_json(labels, labels_len, "", false, out))
        rc = -E2BIG;
    if (rc == 0)
        rc = buf_append_str(out, "},\"exporters\":[");
    for (bool first = true;
         rc == 0 && announce_exporters_next(exporters, exporters_len, &pos, &port, &path, &plen);
         first = false)
        rc = buf_printf(out, "%s\"%d%.*s\"", first ? "" : ",", port, (int)plen, path ? path : "");
    return rc ? rc : buf_append_str(out, "]}");
}

int registry_write_clients(struct registry *r, struct buf *out, uint64_t now_ms,
                           const struct registry_listing *how)
{
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *e;
    int rc = 0;

    while (rc == 0 && ck_ht_next(&r->ht, &it, &e)) {
        struct record *rec = ck_ht_entry_value(e);
        const char *labels = rec->meta, *nl, *exporters = NULL, *path;
        size_t labels_len = rec->meta_len, exporters_len = 0, pos = 0, plen;
        int port;

        if (!record_listed(rec, now_ms))
            continue;
        if (labels && (nl = memchr(labels, '\n', labels_len)) != NULL) {
            exporters = nl + 1;
            exporters_len = labels_len - (size_t)(exporters - labels);
            labels_len = (size_t)(nl - labels);
        }
        switch (how->view) {
        case REGISTRY_VIEW_TARGETS:
            rc = buf_append_str(out, out->len ? ",{\"targets\":[\"" : "{\"targets\":[\"");
            if (rc == 0)
                rc = write_target(out, rec, 0);
            if (rc == 0)
                rc = buf_append_str(out, "\"],\"labels\":{");
            if (rc == 0)
                rc = write_meta_labels(out, rec, how, labels, labels_len, exporters, exporters_len);
            if (rc == 0)
                rc = buf_append_str(out, "}}");
            break;
        case REGISTRY_VIEW_EXPORTERS:
            /* A client that announced no exporter has no target here. */
            while (rc == 0 &&
                   announce_exporters_next(exporters, exporters_len, &pos, &port, &path, &plen)) {
                rc = buf_append_str(out, out->len ? ",{\"targets\":[\"" : "{\"targets\":[\"");
                if (rc == 0)
                    rc = write_target(out, rec, port);
                if (rc == 0)
                    rc = buf_append_str(out, "\"],\"labels\":{");
                if (rc == 0)
                    rc = write_meta_labels(out, rec, how, labels, labels_len, exporters,
                                           exporters_len);
                if (rc == 0)
                    rc = buf_printf(out, ",\"__meta_pushprox_exporter_port\":\"%d\"", port);
                if (rc == 0 && plen)
                    rc = buf_printf(out, ",\"__metrics_path__\":\"%.*s\"", (int)plen, path);
                if (rc == 0)
                    rc = buf_append_str(out, "}}");
            }
            break;
        case REGISTRY_VIEW_DETAIL:
            if (out->len)
                rc = buf_append(out, ",", 1);
            if (rc == 0)
                rc = write_detail(out, rec, how, labels, labels_len, exporters, exporters_len);
            break;
        }
    }
    return rc;
}
