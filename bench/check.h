/* check.h - what a bench response body says, and how every scrape response is judged.
 *
 * A simulated client answers each scrape with a body whose first line names who made it:
 *
 *   # bench fqdn=c17.bench id=<Id the poll carried> len=0000020000      \n
 *
 * (spaces pad the line so the filler after it starts on a 64-byte line boundary), then
 * filler metric lines up to the body size. The scraper cannot see the Id the proxy
 * issued, so a response is judged by: its status (200, or 500 "Error scraping" = the
 * proxy's timeout), its length (== the len= field, and the Content-Length), and the fqdn
 * in its first line (== the fqdn scraped). Ids are checked across the whole run: every
 * Id a client received must be unique (else the proxy delivered a scrape twice) and every
 * Id a scraper saw must be unique (else one push answered two scrapes) and must be one a
 * client pushed (else the body came from nowhere). Ids are kept as 64-bit hashes in
 * idvecs, sorted and compared at the end (check_idvec_*).
 *
 * Owner: pure functions; an idvec belongs to one thread until merged. */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Filler metric lines are this wide, so a suffix of the shared filler starts on a line. */
#define CHECK_FILLER_LINE 64
/* The longest first line we write or accept (fqdn and Id included). */
#define CHECK_LINE_MAX 1024

enum check_result {
    CHECK_OK = 0,
    CHECK_STATUS,    /* a status other than 200 (and not the proxy's scrape timeout) */
    CHECK_TIMEOUT,   /* 500 "Error scraping ...": the proxy gave up waiting for a push */
    CHECK_MISROUTED, /* the body names another fqdn than the one scraped */
    CHECK_BODY,      /* no bench line, or a length that disagrees with it */
};

struct check_line {
    const char *fqdn, *id; /* point into the body */
    size_t fqdn_len, id_len;
    uint64_t len; /* the total body length the line announces */
};

/* Parses the first line of a bench body. Returns 0, or -EINVAL if it is not one. */
int check_parse_line(const char *body, size_t len, struct check_line *out);

/* Writes the first line for a body of (at least) body_bytes into out (cap bytes).
 * Returns the line length (with its '\n'), or -E2BIG. *total gets the body length:
 * body_bytes, or the line length when body_bytes is smaller than the line. The filler
 * length (*total - line length) is a multiple of CHECK_FILLER_LINE. */
int check_write_line(char *out, size_t cap, const char *fqdn, const char *id, size_t id_len,
                     uint64_t body_bytes, uint64_t *total);

/* Fills out (len bytes, a multiple of CHECK_FILLER_LINE) with metric lines. */
void check_fill(char *out, size_t len);

/* Judges one scrape response. want_fqdn is the host scraped; min_len the body size asked
 * of the clients. On CHECK_OK, *id_hash gets the hash of the Id in the body. */
enum check_result check_response(const char *want_fqdn, int status, const char *body,
                                 size_t body_len, uint64_t min_len, uint64_t *id_hash);

const char *check_result_name(enum check_result r);

/* FNV-1a 64 of an Id. */
uint64_t check_id_hash(const char *id, size_t len);

/* A growable vector of Id hashes. Zeroed = empty. */
struct idvec {
    uint64_t *v;
    size_t len, cap;
};

int idvec_push(struct idvec *iv, uint64_t h); /* 0 or -ENOMEM */
int idvec_append(struct idvec *dst, const uint64_t *v, size_t n);
void idvec_close(struct idvec *iv);
void idvec_sort(struct idvec *iv);

/* On a sorted vector: how many entries repeat an earlier one (a value seen k times
 * counts k - 1). */
uint64_t check_idvec_dups(const struct idvec *sorted);
/* On sorted vectors: how many entries of a are not in b. */
uint64_t check_idvec_missing(const struct idvec *a, const struct idvec *b);

#endif
