/* announce.h - what a client says about itself on each poll, in headers that upstream's
 * proxy ignores, and how the proxy reads it.
 *
 *   X-PushProx-Labels: rack=r12,env=prod%20eu        labels, values percent-encoded
 *   X-PushProx-Exporters: 9100,9187/metrics          the ports (and paths) it will scrape
 *
 * Label names are Prometheus's (the legacy pattern [a-zA-Z_][a-zA-Z0-9_]*, which every
 * Prometheus accepts) and may not start with "__" (reserved); values are UTF-8. Every count
 * and size has a limit below. The proxy turns the labels into http_sd meta labels
 * (__meta_pushprox_label_<name>), so they reach Prometheus's relabelling and are dropped
 * after it unless a rule keeps them. Pure functions: no state, any thread. */
#ifndef PUSHPROX_ANNOUNCE_H
#define PUSHPROX_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define ANNOUNCE_LABELS_HEADER "X-PushProx-Labels"
#define ANNOUNCE_EXPORTERS_HEADER "X-PushProx-Exporters"
/* Most labels one client may announce, and the longest name and value. */
#define ANNOUNCE_MAX_LABELS 32
#define ANNOUNCE_LABEL_NAME_MAX 64
#define ANNOUNCE_LABEL_VALUE_MAX 256
/* Most exporters one client may announce, and the longest path. */
#define ANNOUNCE_MAX_EXPORTERS 32
#define ANNOUNCE_PATH_MAX 256
/* Longest header value of either kind. */
#define ANNOUNCE_HEADER_MAX 8192

/* Whether name is a label name a client may announce. */
bool announce_label_name_valid(const char *name, size_t len);

/* Appends one "name=value" element to a labels header value (a comma first unless out is
 * empty), percent-encoding the value. Returns 0, -EINVAL for an invalid name or a value
 * that is not UTF-8 or too long, or -E2BIG/-ENOMEM from out. */
int announce_add_label(struct buf *out, const char *name, size_t name_len, const char *value,
                       size_t value_len);

/* Appends one exporter ("9100" or "9187/metrics") to an exporters header value. Returns 0,
 * -EINVAL (port outside 1..65535, a path not starting with '/' or with a character outside
 * [A-Za-z0-9/._~-], too long), or -E2BIG/-ENOMEM. */
int announce_add_exporter(struct buf *out, int port, const char *path, size_t path_len);

/* Reads a labels header value and appends the labels to out as JSON object members,
 * "\"<prefix><name>\":\"<value>\"" joined by commas, with a comma before the first too
 * when lead is set (the proxy's prefix for http_sd is "__meta_pushprox_label_"). A name
 * given twice is refused (it would be a JSON key twice). Returns NULL, or a static text
 * saying what is wrong; with out NULL it only checks. */
const char *announce_labels_to_json(const char *value, size_t len, const char *prefix, bool lead,
                                    struct buf *out);

/* Checks an exporters header value and writes it, normalised, into out. Returns NULL or
 * what is wrong. */
const char *announce_exporters_normalize(const char *value, size_t len, struct buf *out);

/* Iterates over a normalised exporters list: the next element at *pos (port and path,
 * path_len 0 when none). Returns false at the end. */
bool announce_exporters_next(const char *list, size_t len, size_t *pos, int *port,
                             const char **path, size_t *path_len);

/* Appends s as the inside of a JSON string (quotes not included), escaping what JSON
 * requires. Returns 0 or -E2BIG/-ENOMEM. */
int announce_json_escape(struct buf *out, const char *s, size_t len);

#endif
