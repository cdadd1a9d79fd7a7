/* test_basic_auth.c - Authorization header parsing, bcrypt checks against hashes made here
 * by libxcrypt and by Go (upstream's testdata), the refusal of non-bcrypt hashes, the
 * verdict cache, and the loop/thread-pool flow run through a real uv_queue_work. */
#include <criterion/criterion.h>
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "basic_auth.h"

/* Made by Go's bcrypt (htpasswd-compatible $2y$, cost 12) for "alice123": exporter-toolkit's
 * web_config_users.good.yml and handler_test.go. Checking it proves libxcrypt and Go agree. */
#define GO_HASH_ALICE "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby"

/* A cost-4 bcrypt hash of password, made with libxcrypt (fast enough for tests). */
static void make_hash(const char *password, char out[BASIC_AUTH_HASH_BYTES + 1])
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    cr_assert_not_null(cd);
    cr_assert_not_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof(setting)));
    const char *h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
    cr_assert_not_null(h);
    cr_assert_eq(strlen(h), BASIC_AUTH_HASH_BYTES, "%s", h);
    memcpy(out, h, BASIC_AUTH_HASH_BYTES + 1);
    free(cd);
}

static struct basic_auth_creds creds;

static int parse(const char *value)
{
    return basic_auth_parse(value, strlen(value), &creds);
}

/* ---- header ---- */

Test(basic_auth, parses_user_and_password)
{
    cr_assert_eq(parse("Basic YWxpY2U6YWxpY2UxMjM="), 0); /* alice:alice123 */
    cr_assert_str_eq(creds.user, "alice");
    cr_assert_str_eq(creds.password, "alice123");
    cr_assert_eq(creds.user_len, 5);
    cr_assert_eq(creds.password_len, 8);
    basic_auth_creds_wipe(&creds);
    cr_assert_eq(creds.password[0], '\0');
    cr_assert_eq(creds.password_len, 0);
}

Test(basic_auth, scheme_is_case_insensitive_and_password_keeps_later_colons)
{
    cr_assert_eq(parse("bAsIc dTpwOmE6Yg=="), 0); /* u:p:a:b */
    cr_assert_str_eq(creds.user, "u");
    cr_assert_str_eq(creds.password, "p:a:b");
    cr_assert_eq(parse("Basic Og=="), 0); /* ":" */
    cr_assert_str_eq(creds.user, "");
    cr_assert_str_eq(creds.password, "");
    cr_assert_eq(parse("Basic dTo="), 0); /* "u:" */
    cr_assert_str_eq(creds.user, "u");
    cr_assert_eq(creds.password_len, 0);
}

Test(basic_auth, other_schemes_are_not_basic)
{
    cr_assert_eq(parse("Bearer YWxpY2U6YWxpY2UxMjM="), -ENOENT);
    cr_assert_eq(parse("Basic"), -ENOENT);
    cr_assert_eq(parse(""), -ENOENT);
    cr_assert_eq(parse("BasicYWxpY2U6YWxpY2UxMjM="), -ENOENT);
}

Test(basic_auth, bad_base64_is_refused)
{
    static const char *const bad[] = {
        "Basic YWxpY2U6YWxpY2UxMjM",    /* padding missing */
        "Basic YWxpY2U6YWxp=2UxMjM=",   /* '=' inside */
        "Basic YWxpY2U6YWxpY2UxMjM=\r", /* stray byte */
        "Basic  YWxpY2U6YWxpY2UxMjM=",  /* two spaces */
        "Basic YWxp*2U6YWxpY2UxMjM=",   /* not the alphabet */
        "Basic YWxpY2U6YWxpY2UxMjM==",  /* too much padding */
        "Basic YWxpY2U6YWxpY2UxMj===",  /* three '=' */
        "Basic YWxpY2U6YWxpY2UxMjM_",   /* URL alphabet */
        "Basic Og==Og==",               /* padding before the end */
        "Basic ====",                   /* nothing but padding */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i]), -EINVAL, "%s", bad[i]);
        cr_assert_eq(creds.user[0], '\0', "wiped on error");
    }
}

Test(basic_auth, missing_colon_and_nul_bytes_are_refused)
{
    cr_assert_eq(parse("Basic YWxpY2U="), -EINVAL); /* "alice" */
    cr_assert_eq(parse("Basic "), -EINVAL);         /* nothing */
    cr_assert_eq(parse("Basic YQBiOmM="), -EINVAL); /* "a\0b:c" */
    cr_assert_eq(parse("Basic YTpiAGM="), -EINVAL); /* "a:b\0c" */
    cr_assert_eq(creds.password[0], '\0', "wiped on error");
}

/* "Basic " and the base64 of user_len 'u's, ':', password_len 'p's. */
static char *header(size_t user_len, size_t password_len)
{
    size_t n = user_len + 1 + password_len;
    unsigned char *raw = malloc(n);
    cr_assert_not_null(raw);
    memset(raw, 'u', user_len);
    raw[user_len] = ':';
    memset(raw + user_len + 1, 'p', password_len);
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(6 + 4 * (n / 3 + 1) + 1);
    cr_assert_not_null(out);
    size_t o = (size_t)sprintf(out, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)raw[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < n)
            w |= raw[i + 2];
        out[o++] = alpha[(w >> 18) & 63];
        out[o++] = alpha[(w >> 12) & 63];
        out[o++] = i + 1 < n ? alpha[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? alpha[w & 63] : '=';
    }
    out[o] = '\0';
    free(raw);
    return out;
}

Test(basic_auth, limits_are_enforced)
{
    char *h = header(BASIC_AUTH_MAX_USER_BYTES, BASIC_AUTH_MAX_PASSWORD_BYTES);
    cr_assert_eq(parse(h), 0, "the longest user and password fit");
    cr_assert_eq(creds.user_len, BASIC_AUTH_MAX_USER_BYTES);
    cr_assert_eq(creds.password_len, BASIC_AUTH_MAX_PASSWORD_BYTES);
    free(h);
    h = header(BASIC_AUTH_MAX_USER_BYTES + 1, 3);
    cr_assert_eq(parse(h), -E2BIG);
    free(h);
    h = header(3, BASIC_AUTH_MAX_PASSWORD_BYTES + 1);
    cr_assert_eq(parse(h), -E2BIG);
    free(h);
    h = header(BASIC_AUTH_MAX_USER_BYTES, BASIC_AUTH_MAX_PASSWORD_BYTES + 8);
    cr_assert_gt(strlen(h), BASIC_AUTH_MAX_HEADER_BYTES);
    cr_assert_eq(parse(h), -E2BIG);
    free(h);
}

/* ---- hashes ---- */

Test(basic_auth, bcrypt_hash_shapes)
{
    char h[BASIC_AUTH_HASH_BYTES + 1];
    make_hash("x", h);
    cr_assert(basic_auth_hash_valid(h));
    cr_assert(basic_auth_hash_valid(GO_HASH_ALICE));
    cr_assert(basic_auth_hash_valid(BASIC_AUTH_DUMMY_HASH));
    h[2] = 'a';
    cr_assert(basic_auth_hash_valid(h), "$2a$");
    static const char *const bad[] = {
        "$2x$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2",
        "$2$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2x",
        "$3b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2",
        "$2b$03$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2",
        "$2b$32$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2",
        "$2b$4$$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2",
        "$2b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS",
        "$2b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS22",
        "$2b$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0o+2",
        "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
        "ab01234567890",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(basic_auth_hash_valid(bad[i]), "%s", bad[i]);
}

Test(basic_auth, check_matches_a_libxcrypt_hash)
{
    char h[BASIC_AUTH_HASH_BYTES + 1];
    make_hash("s3cret pass", h);
    cr_assert_eq(basic_auth_check(h, "s3cret pass"), 1);
    cr_assert_eq(basic_auth_check(h, "s3cret pasS"), 0);
    cr_assert_eq(basic_auth_check(h, ""), 0);
    cr_assert_eq(basic_auth_check(h, "s3cret pass "), 0);
}

Test(basic_auth, check_matches_a_go_hash)
{
    cr_assert_eq(basic_auth_check(GO_HASH_ALICE, "alice123"), 1);
    cr_assert_eq(basic_auth_check(GO_HASH_ALICE, "alice1234"), 0);
}

Test(basic_auth, check_refuses_hashes_crypt_would_take)
{
    /* libxcrypt would check all of these (DES, MD5, SHA-512 crypt): refuse before. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    cr_assert_not_null(cd);
    const char *des = crypt_rn("pw", "ab", cd, (int)sizeof(*cd));
    cr_assert_not_null(des, "this libxcrypt makes DES hashes");
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", des);
    free(cd);
    cr_assert_eq(basic_auth_check(copy, "pw"), -EINVAL);
    cr_assert_eq(
        basic_auth_check("$2x$04$gsr5NJTG4x0QUBRIWAAT3Ol/Eys6REHUllfZOJJjd9u98aV5Z0oS2", "secret"),
        -EINVAL);
    cr_assert_eq(basic_auth_check("", ""), -EINVAL);
}

Test(basic_auth, only_the_first_72_bytes_count_as_in_bcrypt)
{
    char p72[73], p100[101], h[BASIC_AUTH_HASH_BYTES + 1];
    memset(p72, 'q', 72);
    p72[72] = '\0';
    memset(p100, 'q', 100);
    p100[100] = '\0';
    make_hash(p72, h);
    cr_assert_eq(basic_auth_check(h, p72), 1);
    cr_assert_eq(basic_auth_check(h, p100), 1, "bytes past 72 are ignored (Go does the same)");
    p72[71] = 'r';
    cr_assert_eq(basic_auth_check(h, p72), 0, "byte 72 still counts");
}

/* ---- cache ---- */

static struct basic_auth_cache cache;

static void cache_init(void)
{
    cr_assert_eq(basic_auth_cache_init(&cache), 0);
}

static void cache_fini(void)
{
    basic_auth_cache_close(&cache);
}

TestSuite(basic_auth_cache, .init = cache_init, .fini = cache_fini);

Test(basic_auth_cache, keys_depend_on_user_hash_password_and_secret)
{
    struct basic_auth_key a, b;
    basic_auth_cache_key(&cache, "alice", GO_HASH_ALICE, "alice123", &a);
    basic_auth_cache_key(&cache, "alice", GO_HASH_ALICE, "alice123", &b);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "same input, same key");
    basic_auth_cache_key(&cache, "alicf", GO_HASH_ALICE, "alice123", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    basic_auth_cache_key(&cache, "alice", BASIC_AUTH_DUMMY_HASH, "alice123", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    basic_auth_cache_key(&cache, "alice", GO_HASH_ALICE, "alice124", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    /* Moving bytes between fields gives another key (upstream's handler_test checks the
     * same with "alice$2y$12..." as user). */
    basic_auth_cache_key(&cache, "alice" GO_HASH_ALICE, "", "alice123", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    basic_auth_cache_key(&cache, "alice", GO_HASH_ALICE "alice", "123", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0);
    struct basic_auth_cache other;
    cr_assert_eq(basic_auth_cache_init(&other), 0);
    basic_auth_cache_key(&other, "alice", GO_HASH_ALICE, "alice123", &b);
    cr_assert_neq(memcmp(&a, &b, sizeof(a)), 0, "each cache has its own secret");
    basic_auth_cache_close(&other);
    cr_assert_null(memmem(&a, sizeof(a), "alice123", 8), "no password in the key");
}

Test(basic_auth_cache, remembers_verdicts_and_updates_in_place)
{
    struct basic_auth_key k, k2;
    basic_auth_cache_key(&cache, "u", GO_HASH_ALICE, "p", &k);
    basic_auth_cache_key(&cache, "u", GO_HASH_ALICE, "q", &k2);
    cr_assert_eq(basic_auth_cache_get(&cache, &k), -ENOENT);
    basic_auth_cache_put(&cache, &k, true);
    basic_auth_cache_put(&cache, &k2, false);
    cr_assert_eq(basic_auth_cache_get(&cache, &k), 1);
    cr_assert_eq(basic_auth_cache_get(&cache, &k2), 0);
    basic_auth_cache_put(&cache, &k, false);
    cr_assert_eq(basic_auth_cache_get(&cache, &k), 0);
    cr_assert_eq(cache.next, 2, "an update takes no new slot");
}

Test(basic_auth_cache, evicts_the_oldest_when_full)
{
    struct basic_auth_key keys[BASIC_AUTH_CACHE_ENTRIES + 1];
    for (int i = 0; i <= BASIC_AUTH_CACHE_ENTRIES; i++) {
        char pw[16];
        snprintf(pw, sizeof(pw), "pw%d", i);
        basic_auth_cache_key(&cache, "u", GO_HASH_ALICE, pw, &keys[i]);
        basic_auth_cache_put(&cache, &keys[i], i % 2);
    }
    cr_assert_eq(basic_auth_cache_get(&cache, &keys[0]), -ENOENT, "the first went");
    for (int i = 1; i <= BASIC_AUTH_CACHE_ENTRIES; i++)
        cr_assert_eq(basic_auth_cache_get(&cache, &keys[i]), i % 2, "entry %d", i);
}

Test(basic_auth_cache, close_wipes_everything)
{
    struct basic_auth_key k;
    basic_auth_cache_key(&cache, "u", GO_HASH_ALICE, "p", &k);
    basic_auth_cache_put(&cache, &k, true);
    basic_auth_cache_close(&cache);
    static const struct basic_auth_cache zero;
    cr_assert_eq(memcmp(&cache, &zero, sizeof(cache)), 0);
    cr_assert_eq(basic_auth_cache_get(&cache, &k), -ENOENT);
}

/* ---- the loop / work flow ---- */

/* Runs a job the way the proxy will: on the thread pool, finished on the loop. */
struct work {
    uv_work_t req;
    struct basic_auth_job job;
    int verdict;
    bool ran_on_loop_thread;
    uv_thread_t loop_thread;
};

static void on_work(uv_work_t *req)
{
    struct work *w = req->data;
    uv_thread_t self = uv_thread_self();
    w->ran_on_loop_thread = uv_thread_equal(&self, &w->loop_thread);
    basic_auth_job_run(&w->job);
}

static void on_after_work(uv_work_t *req, int status)
{
    struct work *w = req->data;
    cr_assert_eq(status, 0);
    w->verdict = basic_auth_finish(&cache, &w->job);
}

/* One request's check: 1 or 0, and whether bcrypt had to run. */
static int authenticate(const char *user, const char *password, const char *hash, bool *ran)
{
    struct basic_auth_creds c = {0};
    snprintf(c.user, sizeof(c.user), "%s", user);
    snprintf(c.password, sizeof(c.password), "%s", password);
    c.user_len = strlen(c.user);
    c.password_len = strlen(c.password);
    struct work w = {.verdict = -1};
    w.req.data = &w;
    int v = basic_auth_begin(&cache, &c, hash, &w.job);
    basic_auth_creds_wipe(&c);
    *ran = v == BASIC_AUTH_RUN;
    if (v != BASIC_AUTH_RUN)
        return v;
    cr_assert_str_eq(w.job.hash, hash ? hash : BASIC_AUTH_DUMMY_HASH);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    w.loop_thread = uv_thread_self();
    cr_assert_eq(uv_queue_work(&loop, &w.req, on_work, on_after_work), 0);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_not(w.ran_on_loop_thread, "bcrypt ran off the loop thread");
    static const struct basic_auth_job zero;
    cr_assert_eq(memcmp(&w.job, &zero, sizeof(zero)), 0, "finish wiped the job");
    return w.verdict;
}

Test(basic_auth_cache, flow_runs_bcrypt_once_per_credentials)
{
    char h[BASIC_AUTH_HASH_BYTES + 1];
    make_hash("right", h);
    bool ran;
    cr_assert_eq(authenticate("alice", "right", h, &ran), 1);
    cr_assert(ran, "first time: bcrypt");
    cr_assert_eq(authenticate("alice", "right", h, &ran), 1);
    cr_assert_not(ran, "second time: the cache");
    cr_assert_eq(authenticate("alice", "wrong", h, &ran), 0);
    cr_assert(ran);
    cr_assert_eq(authenticate("alice", "wrong", h, &ran), 0);
    cr_assert_not(ran, "refusals are cached too, as upstream");
    /* A reloaded file with a new hash for alice: the old verdict does not apply. */
    char h2[BASIC_AUTH_HASH_BYTES + 1];
    make_hash("other", h2);
    cr_assert_eq(authenticate("alice", "right", h2, &ran), 0);
    cr_assert(ran);
}

Test(basic_auth_cache, unknown_users_run_bcrypt_on_the_dummy_and_are_refused)
{
    bool ran;
    cr_assert_eq(authenticate("mallory", "whatever", NULL, &ran), 0);
    cr_assert(ran, "the dummy hash costs as much as a real one");
    cr_assert_eq(authenticate("mallory", "whatever", NULL, &ran), 0);
    cr_assert_not(ran);
}

Test(basic_auth_cache, a_bad_hash_is_denied_without_running)
{
    bool ran;
    cr_assert_eq(authenticate("alice", "x", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", &ran), 0);
    cr_assert_not(ran);
}

Test(basic_auth_cache, an_unknown_user_is_refused_even_if_the_dummy_matched)
{
    struct basic_auth_creds c = {
        .user = "nobody", .password = "p", .user_len = 6, .password_len = 1};
    struct basic_auth_job job;
    cr_assert_eq(basic_auth_begin(&cache, &c, NULL, &job), BASIC_AUTH_RUN);
    cr_assert_not(job.known_user);
    job.result = 1; /* as if someone knew the dummy's password */
    cr_assert_eq(basic_auth_finish(&cache, &job), 0);
    cr_assert_eq(basic_auth_begin(&cache, &c, NULL, &job), 0, "cached as a refusal");
}

Test(basic_auth_cache, a_failed_check_denies_without_caching)
{
    struct basic_auth_creds c = {.user = "u", .password = "p", .user_len = 1, .password_len = 1};
    struct basic_auth_job job;
    cr_assert_eq(basic_auth_begin(&cache, &c, GO_HASH_ALICE, &job), BASIC_AUTH_RUN);
    struct basic_auth_key key = job.key;
    job.result = -ENOMEM; /* as if crypt had failed on the work thread */
    cr_assert_eq(basic_auth_finish(&cache, &job), 0);
    cr_assert_eq(basic_auth_cache_get(&cache, &key), -ENOENT);
}

Test(basic_auth_cache, job_holds_at_most_72_password_bytes)
{
    struct basic_auth_creds c = {.user = "u", .user_len = 1};
    memset(c.password, 'z', 200);
    c.password_len = 200;
    struct basic_auth_job job;
    cr_assert_eq(basic_auth_begin(&cache, &c, GO_HASH_ALICE, &job), BASIC_AUTH_RUN);
    cr_assert_eq(strlen(job.password), BASIC_AUTH_BCRYPT_MAX_KEY_BYTES);
    basic_auth_job_wipe(&job);
    cr_assert_eq(job.password[0], '\0');
}
