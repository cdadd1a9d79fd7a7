/* basic_auth.h - HTTP basic authentication against bcrypt hashes (basic_auth_users of a
 * web config file), as exporter-toolkit does it.
 *
 * A bcrypt check costs 50-300 ms of CPU, so it must never run on an event loop. The split:
 *
 *   loop thread                                  libuv thread pool
 *   -----------                                  -----------------
 *   basic_auth_parse(header) -> creds            (401 on error)
 *   hash = webconfig_user_hash(wc, creds.user)   (NULL: unknown user)
 *   basic_auth_begin(&cache, &creds, hash, job)
 *     -> 1 or 0: verdict from the cache, done
 *     -> BASIC_AUTH_RUN: uv_queue_work(job) ---> basic_auth_job_run(job)   (pure: reads and
 *                                                  writes only *job; may run on any thread)
 *   after_work: basic_auth_finish(&cache, job) -> 1 or 0, cached; job wiped
 *
 * The job holds copies of the hash and password, so a config reload or a closed
 * connection during the check frees nothing it uses; the caller still must keep the job
 * itself alive until after_work (uv_cancel may end it early: call basic_auth_job_wipe()).
 *
 * As upstream: an unknown user is checked against BASIC_AUTH_DUMMY_HASH, so an answer takes
 * as long whether or not the user exists, and is then refused; every verdict, yes or no, is
 * cached (BASIC_AUTH_CACHE_ENTRIES of them), keyed by user, hash and password, so a hash
 * change in a reloaded file is never answered from the cache.
 *
 * Owner: a struct basic_auth_cache belongs to one loop thread (one per worker) and has no
 * lock; basic_auth_check(), basic_auth_hash_valid() and basic_auth_job_run() touch no shared
 * state and may run on any thread. */
#ifndef PUSHPROX_BASIC_AUTH_H
#define PUSHPROX_BASIC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest user name taken from a request: as long as a web config's longest string. */
#define BASIC_AUTH_MAX_USER_BYTES 4096
/* Longest password taken. bcrypt reads only the first 72 bytes, but a longer password is
 * legal and its first 72 bytes decide, as in Go; past 1 KiB it is refused. */
#define BASIC_AUTH_MAX_PASSWORD_BYTES 1024
/* bcrypt uses at most this many bytes of a password (18 32-bit Blowfish subkeys). */
#define BASIC_AUTH_BCRYPT_MAX_KEY_BYTES 72
/* Longest Authorization header value parsed: "Basic " and the base64 of "user:password". */
#define BASIC_AUTH_MAX_HEADER_BYTES                                                                \
    (6 + 4 * ((BASIC_AUTH_MAX_USER_BYTES + 1 + BASIC_AUTH_MAX_PASSWORD_BYTES + 2) / 3))
/* A bcrypt hash is always 60 characters: "$2b$", two cost digits, "$", 22 of salt, 31 of
 * hash. Upstream accepts the same shape (crypto/bcrypt refuses anything shorter). */
#define BASIC_AUTH_HASH_BYTES 60
/* Verdicts remembered per cache. Upstream keeps 100 per listener; a proxy has a handful of
 * users and scrapers, so 100 covers them with room for a few wrong passwords. */
#define BASIC_AUTH_CACHE_ENTRIES 100
/* HMAC-SHA-256 size, the cache key. */
#define BASIC_AUTH_KEY_BYTES 32

/* What a job's check returns (besides 1 = match and 0 = no match). */
#define BASIC_AUTH_RUN 2

/* A bcrypt hash, cost 10 as upstream's stand-in, of a random password nobody knows. */
extern const char BASIC_AUTH_DUMMY_HASH[];

struct basic_auth_creds {
    char user[BASIC_AUTH_MAX_USER_BYTES + 1];
    char password[BASIC_AUTH_MAX_PASSWORD_BYTES + 1];
    size_t user_len, password_len;
};

struct basic_auth_key {
    uint8_t b[BASIC_AUTH_KEY_BYTES];
};

struct basic_auth_cache_entry {
    struct basic_auth_key key;
    bool used;
    bool verdict;
};

/* A FIFO ring of verdicts. Keys are HMAC-SHA-256 under a random per-cache secret, never the
 * password itself. (Upstream keys its cache by the password in clear.) */
struct basic_auth_cache {
    uint8_t secret[BASIC_AUTH_KEY_BYTES];
    struct basic_auth_cache_entry entries[BASIC_AUTH_CACHE_ENTRIES];
    size_t next; /* the slot the next verdict overwrites */
};

struct basic_auth_job {
    char hash[BASIC_AUTH_HASH_BYTES + 1];
    char password[BASIC_AUTH_BCRYPT_MAX_KEY_BYTES + 1]; /* what bcrypt reads of it */
    bool known_user;
    struct basic_auth_key key;
    int result; /* basic_auth_check()'s, set by basic_auth_job_run() */
};

/* Parses an Authorization header value "Basic <base64 of user:password>" (the scheme in any
 * case, one space, padded standard base64, as Go's Request.BasicAuth). The password is
 * everything after the first ':'. Returns 0; -ENOENT when the value is not of the Basic
 * scheme; -EINVAL for bad base64, no ':', or a NUL byte in user or password; -E2BIG past
 * BASIC_AUTH_MAX_HEADER_BYTES, BASIC_AUTH_MAX_USER_BYTES or BASIC_AUTH_MAX_PASSWORD_BYTES.
 * c is wiped on error. Call basic_auth_creds_wipe() when done either way. */
int basic_auth_parse(const char *value, size_t len, struct basic_auth_creds *c);

/* Overwrites c with zeroes (explicit_bzero: the compiler cannot drop it). */
void basic_auth_creds_wipe(struct basic_auth_creds *c);

/* Whether hash is a bcrypt hash we check: "$2a$", "$2b$" or "$2y$", a cost of 04 to 31,
 * "$", 53 characters of bcrypt's base64 alphabet. Everything else crypt(3) would take
 * (DES, MD5, SHA-512 crypt, "$2x$" bug-compatible hashes) is refused, as upstream's
 * crypto/bcrypt knows only bcrypt. Can't fail; any thread. */
bool basic_auth_hash_valid(const char *hash);

/* Checks password against a bcrypt hash with crypt_rn(3) (libxcrypt), comparing in
 * constant time. Slow on purpose: call it only on a work thread. Pure; any thread.
 * Returns 1 on a match, 0 on no match, -EINVAL if the hash is not valid (see
 * basic_auth_hash_valid), -ENOMEM, or another negative errno from crypt_rn. */
int basic_auth_check(const char *hash, const char *password);

/* Fills cache->secret from getrandom(2) and empties it. Returns 0 or a negative errno
 * (-ENOSYS on kernels before 3.17). Loop thread. */
int basic_auth_cache_init(struct basic_auth_cache *cache);

/* Wipes the secret and every entry. Accepts a zeroed cache. */
void basic_auth_cache_close(struct basic_auth_cache *cache);

/* The cache key of (user, hash, password): HMAC-SHA-256 under cache->secret of the three,
 * each preceded by its length so that no two triples share an input. Can't fail. */
void basic_auth_cache_key(const struct basic_auth_cache *cache, const char *user, const char *hash,
                          const char *password, struct basic_auth_key *key);

/* 1 or 0: the verdict remembered for key; -ENOENT: none. Constant time in the key. */
int basic_auth_cache_get(const struct basic_auth_cache *cache, const struct basic_auth_key *key);

/* Remembers a verdict, overwriting the oldest entry when full (the same key is updated in
 * place). Can't fail. */
void basic_auth_cache_put(struct basic_auth_cache *cache, const struct basic_auth_key *key,
                          bool verdict);

/* Loop thread. Prepares the check of c against hash (NULL when the user is unknown: the
 * dummy hash is used and the answer is no). Returns 1 (allow) or 0 (deny) when the cache
 * knows, with job wiped; BASIC_AUTH_RUN when job must go to basic_auth_job_run() on the
 * thread pool, then to basic_auth_finish(). c is not kept. */
int basic_auth_begin(struct basic_auth_cache *cache, const struct basic_auth_creds *c,
                     const char *hash, struct basic_auth_job *job);

/* Work thread: runs the bcrypt check, setting job->result. Touches nothing but *job. */
void basic_auth_job_run(struct basic_auth_job *job);

/* Loop thread, after basic_auth_job_run(): returns 1 (allow) or 0 (deny), caches the verdict
 * (not when the check itself failed, e.g. -ENOMEM: that denies once) and wipes job. */
int basic_auth_finish(struct basic_auth_cache *cache, struct basic_auth_job *job);

/* Overwrites job with zeroes, for a job cancelled before it ran. */
void basic_auth_job_wipe(struct basic_auth_job *job);

#endif
