/* basic_auth.c - Authorization: Basic parsing, bcrypt checks through libxcrypt, and a
 * verdict cache.
 *
 * Owner: a struct basic_auth_cache belongs to the loop thread that made it (see
 * basic_auth.h); everything else here is pure and may run on any thread. Secrets (the
 * password, the decoded header, crypt's scratch space) are wiped with explicit_bzero()
 * before their memory is freed or goes out of scope. */
#include "basic_auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/sha256.h>

const char BASIC_AUTH_DUMMY_HASH[] = "$2b$10$rppL7Hh7i.A49AmwKpkhH.wbtuHfmF/PqaRaYeyNsxi8nbmWWNXD2";

/* SHA-256's block size, for HMAC. */
#define SHA256_BLOCK_BYTES 64
/* The longest decoded credentials: "user:password". */
#define CREDS_MAX_BYTES (BASIC_AUTH_MAX_USER_BYTES + 1 + BASIC_AUTH_MAX_PASSWORD_BYTES)

/* ---- header ---- */

/* The value of one base64 character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard, padded base64 (Go's base64.StdEncoding): the length is a multiple of 4 and
 * '=' appears only as the last one or two characters. Returns the decoded length, -EINVAL,
 * or -E2BIG when more than cap bytes would come out. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 != 0)
        return -EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0) /* data after '=' */
                return -EINVAL;
            if ((v[j] = b64_value(c)) < 0)
                return -EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t n = 3 - (size_t)pad;
        if (o + n > cap)
            return -E2BIG;
        out[o++] = (unsigned char)(w >> 16);
        if (n > 1)
            out[o++] = (unsigned char)(w >> 8);
        if (n > 2)
            out[o++] = (unsigned char)w;
    }
    return (int)o;
}

int basic_auth_parse(const char *value, size_t len, struct basic_auth_creds *c)
{
    static const char scheme[] = "Basic ";
    const size_t scheme_len = sizeof(scheme) - 1;
    unsigned char dec[CREDS_MAX_BYTES];
    int rc = 0, n = 0;

    memset(c, 0, sizeof(*c));
    if (len < scheme_len || strncasecmp(value, scheme, scheme_len) != 0) {
        rc = -ENOENT;
        goto out;
    }
    if (len > BASIC_AUTH_MAX_HEADER_BYTES) {
        rc = -E2BIG;
        goto out;
    }
    n = b64_decode(value + scheme_len, len - scheme_len, dec, sizeof(dec));
    if (n < 0) {
        rc = n;
        goto out;
    }
    unsigned char *colon = memchr(dec, ':', (size_t)n);
    if (!colon || memchr(dec, '\0', (size_t)n)) {
        rc = -EINVAL;
        goto out;
    }
    size_t ulen = (size_t)(colon - dec), plen = (size_t)n - ulen - 1;
    if (ulen > BASIC_AUTH_MAX_USER_BYTES || plen > BASIC_AUTH_MAX_PASSWORD_BYTES) {
        rc = -E2BIG;
        goto out;
    }
    memcpy(c->user, dec, ulen);
    c->user[ulen] = '\0';
    c->user_len = ulen;
    memcpy(c->password, colon + 1, plen);
    c->password[plen] = '\0';
    c->password_len = plen;

out:
    explicit_bzero(dec, sizeof(dec));
    if (rc < 0)
        basic_auth_creds_wipe(c);
    return rc;
}

void basic_auth_creds_wipe(struct basic_auth_creds *c)
{
    explicit_bzero(c, sizeof(*c));
}

/* ---- bcrypt ---- */

bool basic_auth_hash_valid(const char *hash)
{
    /* "$2?$NN$" then 53 characters of ./A-Za-z0-9 (22 of salt, 31 of hash). */
    if (strnlen(hash, BASIC_AUTH_HASH_BYTES + 1) != BASIC_AUTH_HASH_BYTES)
        return false;
    if (hash[0] != '$' || hash[1] != '2' || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') ||
        hash[3] != '$' || hash[6] != '$')
        return false;
    if (hash[4] < '0' || hash[4] > '3' || hash[5] < '0' || hash[5] > '9')
        return false;
    int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    if (cost < 4 || cost > 31) /* crypto/bcrypt's MinCost and MaxCost */
        return false;
    for (int i = 7; i < BASIC_AUTH_HASH_BYTES; i++) {
        char ch = hash[i];
        if (!(ch == '.' || ch == '/' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9')))
            return false;
    }
    return true;
}

int basic_auth_check(const char *hash, const char *password)
{
    char key[BASIC_AUTH_BCRYPT_MAX_KEY_BYTES + 1];
    struct crypt_data *cd = NULL;
    int rc = 0;

    if (!basic_auth_hash_valid(hash))
        return -EINVAL;
    /* bcrypt reads the first 72 bytes (libxcrypt and Go alike); cutting there keeps crypt
     * within CRYPT_MAX_PASSPHRASE_SIZE for any password we accept, and changes nothing. */
    size_t plen = strnlen(password, BASIC_AUTH_BCRYPT_MAX_KEY_BYTES);
    memcpy(key, password, plen);
    key[plen] = '\0';
    /* 32 KiB of scratch space: on the heap, not a thread-pool thread's stack. */
    cd = calloc(1, sizeof(*cd));
    if (!cd) {
        rc = -ENOMEM;
        goto out;
    }
    errno = 0;
    const char *out = crypt_rn(key, hash, cd, (int)sizeof(*cd));
    if (!out) {
        rc = errno ? -errno : -EINVAL;
        goto out;
    }
    /* crypt returns the setting followed by the hash; equal iff it is the stored string. */
    rc = strnlen(out, BASIC_AUTH_HASH_BYTES + 1) == BASIC_AUTH_HASH_BYTES &&
         mbedtls_ct_memcmp(out, hash, BASIC_AUTH_HASH_BYTES) == 0;

out:
    explicit_bzero(key, sizeof(key));
    if (cd) {
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
    }
    return rc;
}

/* ---- cache ---- */

int basic_auth_cache_init(struct basic_auth_cache *cache)
{
    memset(cache, 0, sizeof(*cache));
    size_t got = 0;
    while (got < sizeof(cache->secret)) {
        ssize_t n = getrandom(cache->secret + got, sizeof(cache->secret) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    return 0;
}

void basic_auth_cache_close(struct basic_auth_cache *cache)
{
    explicit_bzero(cache, sizeof(*cache));
}

static void sha256_field(mbedtls_sha256_context *sha, const char *s)
{
    uint64_t len = strlen(s);
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (unsigned char)(len >> (8 * i));
    /* The software SHA-256 of mbedTLS cannot fail; the _ret forms return 0. */
    (void)mbedtls_sha256_update_ret(sha, len_le, sizeof(len_le));
    (void)mbedtls_sha256_update_ret(sha, (const unsigned char *)s, (size_t)len);
}

void basic_auth_cache_key(const struct basic_auth_cache *cache, const char *user, const char *hash,
                          const char *password, struct basic_auth_key *key)
{
    /* HMAC (RFC 2104) with SHA-256, written out so that nothing is allocated:
     * H((K ^ opad) || H((K ^ ipad) || message)). */
    unsigned char pad[SHA256_BLOCK_BYTES], inner[32];
    mbedtls_sha256_context sha;

    mbedtls_sha256_init(&sha);
    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < sizeof(cache->secret); i++)
        pad[i] ^= cache->secret[i];
    (void)mbedtls_sha256_starts_ret(&sha, 0);
    (void)mbedtls_sha256_update_ret(&sha, pad, sizeof(pad));
    sha256_field(&sha, user);
    sha256_field(&sha, hash);
    sha256_field(&sha, password);
    (void)mbedtls_sha256_finish_ret(&sha, inner);

    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < sizeof(cache->secret); i++)
        pad[i] ^= cache->secret[i];
    (void)mbedtls_sha256_starts_ret(&sha, 0);
    (void)mbedtls_sha256_update_ret(&sha, pad, sizeof(pad));
    (void)mbedtls_sha256_update_ret(&sha, inner, sizeof(inner));
    (void)mbedtls_sha256_finish_ret(&sha, key->b);

    mbedtls_sha256_free(&sha);
    explicit_bzero(pad, sizeof(pad));
    explicit_bzero(inner, sizeof(inner));
}

/* The slot holding key, or -1. Looks at every slot, so the time does not depend on where
 * (or whether) it is found. */
static int find(const struct basic_auth_cache *cache, const struct basic_auth_key *key)
{
    int found = -1;
    for (int i = 0; i < BASIC_AUTH_CACHE_ENTRIES; i++) {
        const struct basic_auth_cache_entry *e = &cache->entries[i];
        int same = mbedtls_ct_memcmp(e->key.b, key->b, sizeof(key->b)) == 0;
        if (e->used && same)
            found = i;
    }
    return found;
}

int basic_auth_cache_get(const struct basic_auth_cache *cache, const struct basic_auth_key *key)
{
    int i = find(cache, key);
    return i < 0 ? -ENOENT : cache->entries[i].verdict;
}

void basic_auth_cache_put(struct basic_auth_cache *cache, const struct basic_auth_key *key,
                          bool verdict)
{
    int i = find(cache, key);
    if (i < 0) {
        i = (int)cache->next;
        cache->next = (cache->next + 1) % BASIC_AUTH_CACHE_ENTRIES;
    }
    cache->entries[i].key = *key;
    cache->entries[i].used = true;
    cache->entries[i].verdict = verdict;
}

/* ---- the loop / work split ---- */

int basic_auth_begin(struct basic_auth_cache *cache, const struct basic_auth_creds *c,
                     const char *hash, struct basic_auth_job *job)
{
    memset(job, 0, sizeof(*job));
    job->known_user = hash != NULL;
    if (!hash)
        hash = BASIC_AUTH_DUMMY_HASH;
    /* webconfig checked every hash; one that is not valid here would be cut to fit job->hash
     * and might then pass as another: deny it outright. */
    if (!basic_auth_hash_valid(hash))
        return 0;
    basic_auth_cache_key(cache, c->user, hash, c->password, &job->key);
    int v = basic_auth_cache_get(cache, &job->key);
    if (v >= 0) {
        int allow = v && job->known_user;
        basic_auth_job_wipe(job);
        return allow;
    }
    memcpy(job->hash, hash, BASIC_AUTH_HASH_BYTES + 1);
    size_t plen = c->password_len < BASIC_AUTH_BCRYPT_MAX_KEY_BYTES
                      ? c->password_len
                      : BASIC_AUTH_BCRYPT_MAX_KEY_BYTES;
    memcpy(job->password, c->password, plen);
    job->password[plen] = '\0';
    return BASIC_AUTH_RUN;
}

void basic_auth_job_run(struct basic_auth_job *job)
{
    job->result = basic_auth_check(job->hash, job->password);
    explicit_bzero(job->password, sizeof(job->password));
}

int basic_auth_finish(struct basic_auth_cache *cache, struct basic_auth_job *job)
{
    int allow = 0;
    if (job->result >= 0) {
        bool verdict = job->result == 1 && job->known_user;
        basic_auth_cache_put(cache, &job->key, verdict);
        allow = verdict;
    }
    basic_auth_job_wipe(job);
    return allow;
}

void basic_auth_job_wipe(struct basic_auth_job *job)
{
    explicit_bzero(job, sizeof(*job));
}
