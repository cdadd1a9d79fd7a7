/* webconfig.c - parses exporter-toolkit's web configuration file with libyaml.
 *
 * No state of its own: every call works on the caller's struct webconfig and a parse
 * context on the stack. libyaml loads the whole (bounded) file into a node tree first;
 * the walk below follows our fixed schema, so it goes at most three levels deep whatever
 * the tree holds, and an alias (which libyaml keeps as a reference to the anchored node,
 * never as a copy) cannot make it loop or blow up. Checks that need the whole file
 * (a certificate without a key, a client CA without a client_auth_type) run after the walk,
 * in the order upstream's ConfigToTLSConfig runs them. */
#include "webconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ssl.h>
#include <yaml.h>

#include "basic_auth.h"

/* Longest piece of input (a key, a value) quoted in an error, after escaping. */
#define QUOTE_MAX 80

struct parse {
    yaml_document_t *doc;
    const char *path; /* names the file in errors */
    char *dir;        /* the file's directory, relative paths are joined to it; or NULL */
    struct webconfig *wc;
    char *err;
    size_t err_len;
    /* What the checks after the walk need. */
    yaml_node_t *tls_node; /* tls_server_config, for the line of section-wide errors */
    bool auth_given;       /* client_auth_type set to a non-empty value */
    bool sans_given;       /* client_allowed_sans present and not null */
    bool suites_given;     /* cipher_suites present with at least one name */
    int min_version;       /* 10..13, as written (0: not given) */
    int max_version;
    yaml_node_t *min_node, *max_node;
};

/* A key of a fixed section and what the walk calls for it. */
struct key_def {
    const char *name;
    int (*on_value)(struct parse *p, yaml_node_t *key, yaml_node_t *val);
};

static int on_tls_section(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_http_section(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_users(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_rate_limit(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_cert(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_key(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_client_ca(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_cert_file(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_key_file(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_client_ca_file(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_client_auth_type(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_cipher_suites(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_curve_preferences(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_min_version(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_max_version(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_prefer_server(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_allowed_sans(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_http2(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_headers(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_interval(struct parse *p, yaml_node_t *key, yaml_node_t *val);
static int on_burst(struct parse *p, yaml_node_t *key, yaml_node_t *val);

static const struct key_def top_keys[] = {
    {"tls_server_config", on_tls_section},
    {"http_server_config", on_http_section},
    {"basic_auth_users", on_users},
    {"rate_limit", on_rate_limit},
};

static const struct key_def tls_keys[] = {
    {"cert", on_cert},
    {"key", on_key},
    {"client_ca", on_client_ca},
    {"cert_file", on_cert_file},
    {"key_file", on_key_file},
    {"client_auth_type", on_client_auth_type},
    {"client_ca_file", on_client_ca_file},
    {"cipher_suites", on_cipher_suites},
    {"curve_preferences", on_curve_preferences},
    {"min_version", on_min_version},
    {"max_version", on_max_version},
    {"prefer_server_cipher_suites", on_prefer_server},
    {"client_allowed_sans", on_allowed_sans},
};

static const struct key_def http_keys[] = {
    {"http2", on_http2},
    {"headers", on_headers},
};

static const struct key_def rate_keys[] = {
    {"interval", on_interval},
    {"burst", on_burst},
};

/* client_auth_type values; "RequireClientCert" is upstream's old name, still accepted. */
static const struct {
    const char *name;
    enum webconfig_client_auth auth;
} client_auths[] = {
    {"NoClientCert", WEBCONFIG_NO_CLIENT_CERT},
    {"RequestClientCert", WEBCONFIG_REQUEST_CLIENT_CERT},
    {"RequireAnyClientCert", WEBCONFIG_REQUIRE_ANY_CLIENT_CERT},
    {"RequireClientCert", WEBCONFIG_REQUIRE_ANY_CLIENT_CERT},
    {"VerifyClientCertIfGiven", WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN},
    {"RequireAndVerifyClientCert", WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT},
};

/* The names Go's tls.CipherSuites() returns (its "secure" list; upstream refuses the rest,
 * InsecureCipherSuites included, as unknown). The TLS 1.2 ones become mbedTLS names by
 * turning '_' into '-'; Go ignores the TLS 1.3 ones in a configuration and so do we. */
static const struct {
    const char *name;
    bool tls13;
} go_ciphers[] = {
    {"TLS_AES_128_GCM_SHA256", true},
    {"TLS_AES_256_GCM_SHA384", true},
    {"TLS_CHACHA20_POLY1305_SHA256", true},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false},
};

static const struct {
    const char *name;
    mbedtls_ecp_group_id id;
} go_curves[] = {
    {"CurveP256", MBEDTLS_ECP_DP_SECP256R1},
    {"CurveP384", MBEDTLS_ECP_DP_SECP384R1},
    {"CurveP521", MBEDTLS_ECP_DP_SECP521R1},
    {"X25519", MBEDTLS_ECP_DP_CURVE25519},
};

/* The response headers upstream lets a file set, and the only values allowed for the two
 * that are enumerations (NULL: any value). */
static const struct {
    const char *name;
    const char *values[3];
} allowed_headers[] = {
    {"Strict-Transport-Security", {NULL}},
    {"X-Content-Type-Options", {"nosniff", NULL}},
    {"X-Frame-Options", {"deny", "sameorigin", NULL}},
    {"X-XSS-Protection", {NULL}},
    {"Content-Security-Policy", {NULL}},
};

/* ---- errors ---- */

/* Copies s into out (QUOTE_MAX bytes) with anything but printable ASCII escaped as \xNN and
 * '"' and '\\' escaped, cut with "..." when long, so input can never garble a message. */
static const char *quote(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[5];
        int n;
        if (c == '"' || c == '\\')
            n = snprintf(tmp, sizeof(tmp), "\\%c", c);
        else if (c < 0x20 || c > 0x7e)
            n = snprintf(tmp, sizeof(tmp), "\\x%02x", c);
        else
            n = snprintf(tmp, sizeof(tmp), "%c", c);
        if (o + (size_t)n + 4 > QUOTE_MAX) {
            memcpy(out + o, "...", 4);
            return out;
        }
        memcpy(out + o, tmp, (size_t)n);
        o += (size_t)n;
    }
    out[o] = '\0';
    return out;
}

/* Writes "file:line:col: message" (or "file: message" without a node) to p->err and
 * returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(struct parse *p, int rc,
                                                      const yaml_node_t *at, const char *fmt, ...)
{
    if (!p->err || p->err_len == 0)
        return rc;
    int n;
    if (at)
        n = snprintf(p->err, p->err_len, "%s:%zu:%zu: ", p->path, at->start_mark.line + 1,
                     at->start_mark.column + 1);
    else
        n = snprintf(p->err, p->err_len, "%s: ", p->path);
    if (n >= 0 && (size_t)n < p->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- nodes ---- */

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* YAML's null (yaml.v2 decodes it to the zero value): an empty or "~"/"null" plain scalar. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* libyaml gives untagged nodes the default tag of their kind; any other tag was written
 * in the file (!!int, !!binary, !custom) and we take none. */
static int check_tag(struct parse *p, const yaml_node_t *n, const char *what)
{
    const char *want = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
                       : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
                                                       : YAML_DEFAULT_MAPPING_TAG;
    if (n->tag && strcmp((const char *)n->tag, want) != 0) {
        char q[QUOTE_MAX];
        return fail(p, -EINVAL, n, "%s: YAML tag \"%s\" is not supported", what,
                    quote((const char *)n->tag, strlen((const char *)n->tag), q));
    }
    return 0;
}

static yaml_node_t *node_at(struct parse *p, int index)
{
    return yaml_document_get_node(p->doc, index);
}

/* A scalar as a C string: refuses sequences and mappings, tags, NUL bytes and values longer
 * than max. *len gets the length; *s points into the document (not copied); a null gives
 * "" (as yaml.v2 decodes null into a string). */
static int get_scalar(struct parse *p, yaml_node_t *n, const char *what, size_t max, const char **s,
                      size_t *len)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(p, -EINVAL, n, "%s must be a string, not a %s", what,
                    n->type == YAML_MAPPING_NODE ? "mapping" : "list");
    int rc = check_tag(p, n, what);
    if (rc < 0)
        return rc;
    if (is_null(n)) {
        *s = "";
        *len = 0;
        return 0;
    }
    *s = scalar(n);
    *len = n->data.scalar.length;
    if (memchr(*s, '\0', *len))
        return fail(p, -EINVAL, n, "%s contains a NUL byte", what);
    if (*len > max)
        return fail(p, -E2BIG, n, "%s is longer than %zu bytes", what, max);
    return 0;
}

/* get_scalar() into a malloc'd copy; an empty value or null leaves *out NULL ("not set", as
 * upstream treats ""). */
static int get_string(struct parse *p, yaml_node_t *n, const char *what, size_t max, char **out)
{
    const char *s;
    size_t len;
    int rc = get_scalar(p, n, what, max, &s, &len);
    if (rc < 0 || len == 0)
        return rc;
    *out = strndup(s, len);
    return *out ? 0 : fail(p, -ENOMEM, n, "%s: out of memory", what);
}

/* YAML 1.1 booleans as yaml.v2 reads them; null is false (the zero value). */
static int get_bool(struct parse *p, yaml_node_t *n, const char *what, bool *out)
{
    static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON"};
    static const char *const no[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                     "False", "FALSE", "off", "Off", "OFF"};
    const char *s;
    size_t len;
    int rc = get_scalar(p, n, what, WEBCONFIG_MAX_STRING_BYTES, &s, &len);
    if (rc < 0)
        return rc;
    if (is_null(n)) {
        *out = false;
        return 0;
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcmp(s, yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcmp(s, no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    char q[QUOTE_MAX];
    return fail(p, -EINVAL, n, "%s: \"%s\" is not a boolean (true or false, unquoted)", what,
                quote(s, len, q));
}

/* Walks a mapping whose keys are fixed: an unknown or repeated key is an error naming it.
 * A null value (an empty section) is a mapping with no keys. */
static int walk_map(struct parse *p, yaml_node_t *map, const char *where,
                    const struct key_def *defs, size_t n_defs)
{
    if (is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(p, -EINVAL, map, "%s must be a mapping", where);
    int rc = check_tag(p, map, where);
    if (rc < 0)
        return rc;
    uint32_t seen = 0; /* one bit per entry of defs (at most 13) */
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(p, pair->key), *v = node_at(p, pair->value);
        if (!k || !v)
            return fail(p, -EINVAL, map, "%s: broken YAML node", where);
        const char *name;
        size_t len;
        if ((rc = get_scalar(p, k, "a key", WEBCONFIG_MAX_STRING_BYTES, &name, &len)) < 0)
            return rc;
        size_t i = 0;
        while (i < n_defs && strcmp(defs[i].name, name) != 0)
            i++;
        char q[QUOTE_MAX];
        if (i == n_defs)
            return fail(p, -EINVAL, k, "unknown key \"%s\" in %s", quote(name, len, q), where);
        if (seen & (1u << i))
            return fail(p, -EINVAL, k, "key \"%s\" appears twice in %s", defs[i].name, where);
        seen |= 1u << i;
        if ((rc = defs[i].on_value(p, k, v)) < 0)
            return rc;
    }
    return 0;
}

/* A sequence's items, after checking kind, tag and count. A null is an empty list. */
static int get_seq(struct parse *p, yaml_node_t *n, const char *what, size_t max,
                   yaml_node_item_t **items, size_t *count)
{
    *items = NULL;
    *count = 0;
    if (is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(p, -EINVAL, n, "%s must be a list", what);
    int rc = check_tag(p, n, what);
    if (rc < 0)
        return rc;
    *items = n->data.sequence.items.start;
    *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (*count > max)
        return fail(p, -E2BIG, n, "%s has more than %zu entries", what, max);
    return 0;
}

/* A path joined to the config file's directory unless absolute (config_util.JoinDir). */
static int get_path(struct parse *p, yaml_node_t *n, const char *what, char **out)
{
    char *s = NULL;
    int rc = get_string(p, n, what, WEBCONFIG_MAX_STRING_BYTES, &s);
    if (rc < 0 || !s || s[0] == '/' || !p->dir) {
        *out = s;
        return rc;
    }
    size_t dlen = strlen(p->dir), slen = strlen(s);
    char *joined = malloc(dlen + 1 + slen + 1);
    if (!joined) {
        free(s);
        return fail(p, -ENOMEM, n, "%s: out of memory", what);
    }
    memcpy(joined, p->dir, dlen);
    size_t o = dlen;
    if (o == 0 || joined[o - 1] != '/')
        joined[o++] = '/';
    memcpy(joined + o, s, slen + 1);
    free(s);
    *out = joined;
    return 0;
}

/* ---- top level ---- */

static int on_tls_section(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    p->tls_node = val;
    return walk_map(p, val, "tls_server_config", tls_keys, sizeof(tls_keys) / sizeof(tls_keys[0]));
}

static int on_http_section(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return walk_map(p, val, "http_server_config", http_keys,
                    sizeof(http_keys) / sizeof(http_keys[0]));
}

static int on_rate_limit(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return walk_map(p, val, "rate_limit", rate_keys, sizeof(rate_keys) / sizeof(rate_keys[0]));
}

static int on_users(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    struct webconfig *wc = p->wc;
    const char *where = "basic_auth_users";
    if (is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return fail(p, -EINVAL, val, "%s must be a mapping of user names to bcrypt hashes", where);
    int rc = check_tag(p, val, where);
    if (rc < 0)
        return rc;
    size_t n = (size_t)(val->data.mapping.pairs.top - val->data.mapping.pairs.start);
    if (n > WEBCONFIG_MAX_USERS)
        return fail(p, -E2BIG, val, "%s has more than %d users", where, WEBCONFIG_MAX_USERS);
    if (n == 0)
        return 0;
    wc->users = calloc(n, sizeof(*wc->users));
    if (!wc->users)
        return fail(p, -ENOMEM, val, "%s: out of memory", where);
    for (yaml_node_pair_t *pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(p, pair->key), *v = node_at(p, pair->value);
        if (!k || !v)
            return fail(p, -EINVAL, val, "%s: broken YAML node", where);
        const char *name, *hash;
        size_t name_len, hash_len;
        char q[QUOTE_MAX];
        if ((rc = get_scalar(p, k, "a user name", WEBCONFIG_MAX_STRING_BYTES, &name, &name_len)) <
            0)
            return rc;
        /* Basic credentials are "user:password" split at the first ':', so such a user
         * could never log in (upstream takes the name and silently never matches it). */
        if (memchr(name, ':', name_len))
            return fail(p, -EINVAL, k,
                        "%s: user \"%s\" contains ':', which basic auth cannot "
                        "carry in a user name",
                        where, quote(name, name_len, q));
        for (size_t i = 0; i < wc->n_users; i++)
            if (strcmp(wc->users[i].name, name) == 0)
                return fail(p, -EINVAL, k, "%s: user \"%s\" appears twice", where,
                            quote(name, name_len, q));
        if ((rc = get_scalar(p, v, "a password hash", WEBCONFIG_MAX_STRING_BYTES, &hash,
                             &hash_len)) < 0)
            return rc;
        if (!basic_auth_hash_valid(hash))
            return fail(p, -EINVAL, v,
                        "%s: user \"%s\": the password is not a bcrypt hash (want $2y$, $2b$ "
                        "or $2a$, a cost of 04 to 31, %d characters in all; htpasswd -nBC 10 "
                        "\"\" makes one)",
                        where, quote(name, name_len, q), BASIC_AUTH_HASH_BYTES);
        struct webconfig_user *u = &wc->users[wc->n_users];
        u->name = strndup(name, name_len);
        u->hash = strndup(hash, hash_len);
        if (u->name || u->hash)
            wc->n_users++; /* counted once anything is set, so close() frees it */
        if (!u->name || !u->hash)
            return fail(p, -ENOMEM, k, "%s: out of memory", where);
    }
    return 0;
}

/* ---- tls_server_config ---- */

static int on_cert(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_string(p, val, "tls_server_config.cert", WEBCONFIG_MAX_PEM_BYTES, &p->wc->cert_pem);
}

static int on_key(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_string(p, val, "tls_server_config.key", WEBCONFIG_MAX_PEM_BYTES, &p->wc->key_pem);
}

static int on_client_ca(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_string(p, val, "tls_server_config.client_ca", WEBCONFIG_MAX_PEM_BYTES,
                      &p->wc->client_ca_pem);
}

static int on_cert_file(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_path(p, val, "tls_server_config.cert_file", &p->wc->cert_file);
}

static int on_key_file(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_path(p, val, "tls_server_config.key_file", &p->wc->key_file);
}

static int on_client_ca_file(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_path(p, val, "tls_server_config.client_ca_file", &p->wc->client_ca_file);
}

static int on_client_auth_type(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *s;
    size_t len;
    int rc = get_scalar(p, val, "tls_server_config.client_auth_type", WEBCONFIG_MAX_STRING_BYTES,
                        &s, &len);
    if (rc < 0 || len == 0) /* "" is NoClientCert and does not turn TLS on, as upstream */
        return rc;
    p->auth_given = true;
    for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++) {
        if (strcmp(s, client_auths[i].name) == 0) {
            p->wc->client_auth = client_auths[i].auth;
            return 0;
        }
    }
    char q[QUOTE_MAX];
    return fail(p, -EINVAL, val,
                "tls_server_config.client_auth_type: invalid value \"%s\" (want NoClientCert, "
                "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or "
                "RequireAndVerifyClientCert)",
                quote(s, len, q));
}

static int on_cipher_suites(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *what = "tls_server_config.cipher_suites";
    struct webconfig *wc = p->wc;
    yaml_node_item_t *items;
    size_t n;
    int rc = get_seq(p, val, what, WEBCONFIG_MAX_CIPHER_SUITES, &items, &n);
    if (rc < 0 || n == 0)
        return rc;
    p->suites_given = true;
    wc->cipher_suites = calloc(n + 1, sizeof(*wc->cipher_suites));
    if (!wc->cipher_suites)
        return fail(p, -ENOMEM, val, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(p, items[i]);
        if (!item)
            return fail(p, -EINVAL, val, "%s: broken YAML node", what);
        const char *s;
        size_t len;
        if ((rc = get_scalar(p, item, "an entry of tls_server_config.cipher_suites",
                             WEBCONFIG_MAX_STRING_BYTES, &s, &len)) < 0)
            return rc;
        size_t c = 0;
        while (c < sizeof(go_ciphers) / sizeof(go_ciphers[0]) && strcmp(s, go_ciphers[c].name))
            c++;
        char q[QUOTE_MAX];
        if (c == sizeof(go_ciphers) / sizeof(go_ciphers[0]))
            return fail(p, -EINVAL, item,
                        "%s: unknown cipher suite \"%s\" (Go's names as in tls.CipherSuites(), "
                        "such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)",
                        what, quote(s, len, q));
        if (go_ciphers[c].tls13)
            continue;
        char mbed[64];
        snprintf(mbed, sizeof(mbed), "%s", go_ciphers[c].name);
        for (char *ch = mbed; *ch; ch++)
            if (*ch == '_')
                *ch = '-';
        int id = mbedtls_ssl_get_ciphersuite_id(mbed);
        if (id == 0)
            return fail(p, -EINVAL, item, "%s: cipher suite %s is not available in this mbedTLS",
                        what, go_ciphers[c].name);
        wc->cipher_suites[wc->n_cipher_suites++] = id;
    }
    wc->cipher_suites[wc->n_cipher_suites] = 0;
    return 0;
}

static int on_curve_preferences(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *what = "tls_server_config.curve_preferences";
    struct webconfig *wc = p->wc;
    yaml_node_item_t *items;
    size_t n;
    int rc = get_seq(p, val, what, WEBCONFIG_MAX_CURVES, &items, &n);
    if (rc < 0 || n == 0)
        return rc;
    wc->curves = calloc(n + 1, sizeof(*wc->curves));
    if (!wc->curves)
        return fail(p, -ENOMEM, val, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(p, items[i]);
        if (!item)
            return fail(p, -EINVAL, val, "%s: broken YAML node", what);
        const char *s;
        size_t len;
        if ((rc = get_scalar(p, item, "an entry of tls_server_config.curve_preferences",
                             WEBCONFIG_MAX_STRING_BYTES, &s, &len)) < 0)
            return rc;
        size_t c = 0;
        while (c < sizeof(go_curves) / sizeof(go_curves[0]) && strcmp(s, go_curves[c].name))
            c++;
        char q[QUOTE_MAX];
        if (c == sizeof(go_curves) / sizeof(go_curves[0]))
            return fail(p, -EINVAL, item,
                        "%s: unknown curve \"%s\" (want CurveP256, CurveP384, CurveP521 or "
                        "X25519)",
                        what, quote(s, len, q));
        wc->curves[wc->n_curves++] = go_curves[c].id;
    }
    wc->curves[wc->n_curves] = MBEDTLS_ECP_DP_NONE;
    return 0;
}

/* "TLS10".."TLS13" -> 10..13; null keeps the default (0 is returned in *v). */
static int get_version(struct parse *p, yaml_node_t *val, const char *what, int *v)
{
    const char *s;
    size_t len;
    int rc = get_scalar(p, val, what, WEBCONFIG_MAX_STRING_BYTES, &s, &len);
    if (rc < 0)
        return rc;
    *v = 0;
    if (is_null(val))
        return 0;
    static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *v = 10 + i;
            return 0;
        }
    }
    char q[QUOTE_MAX];
    return fail(p, -EINVAL, val,
                "%s: unknown TLS version \"%s\" (want TLS10, TLS11, TLS12 or "
                "TLS13)",
                what, quote(s, len, q));
}

static int on_min_version(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    p->min_node = val;
    return get_version(p, val, "tls_server_config.min_version", &p->min_version);
}

static int on_max_version(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    p->max_node = val;
    return get_version(p, val, "tls_server_config.max_version", &p->max_version);
}

static int on_prefer_server(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_bool(p, val, "tls_server_config.prefer_server_cipher_suites",
                    &p->wc->prefer_server_cipher_suites);
}

static int on_allowed_sans(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *what = "tls_server_config.client_allowed_sans";
    struct webconfig *wc = p->wc;
    yaml_node_item_t *items;
    size_t n;
    int rc = get_seq(p, val, what, WEBCONFIG_MAX_ALLOWED_SANS, &items, &n);
    if (rc < 0)
        return rc;
    p->sans_given = !is_null(val);
    if (n == 0)
        return 0;
    wc->allowed_sans = calloc(n, sizeof(*wc->allowed_sans));
    if (!wc->allowed_sans)
        return fail(p, -ENOMEM, val, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(p, items[i]);
        if (!item)
            return fail(p, -EINVAL, val, "%s: broken YAML node", what);
        char *s = NULL;
        if ((rc = get_string(p, item, "an entry of tls_server_config.client_allowed_sans",
                             WEBCONFIG_MAX_STRING_BYTES, &s)) < 0)
            return rc;
        if (!s) /* it could match no certificate: surely a mistake */
            return fail(p, -EINVAL, item, "%s: an entry is empty", what);
        wc->allowed_sans[wc->n_allowed_sans++] = s;
    }
    return 0;
}

/* ---- http_server_config ---- */

static int on_http2(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    return get_bool(p, val, "http_server_config.http2", &p->wc->http2);
}

static int on_headers(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *where = "http_server_config.headers";
    struct webconfig *wc = p->wc;
    size_t n_allowed = sizeof(allowed_headers) / sizeof(allowed_headers[0]);
    if (is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return fail(p, -EINVAL, val, "%s must be a mapping of header names to values", where);
    int rc = check_tag(p, val, where);
    if (rc < 0)
        return rc;
    /* Each allowed name at most once (repeats are refused below): n_allowed entries. */
    wc->headers = calloc(n_allowed, sizeof(*wc->headers));
    if (!wc->headers)
        return fail(p, -ENOMEM, val, "%s: out of memory", where);
    uint32_t seen = 0;
    for (yaml_node_pair_t *pair = val->data.mapping.pairs.start; pair < val->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(p, pair->key), *v = node_at(p, pair->value);
        if (!k || !v)
            return fail(p, -EINVAL, val, "%s: broken YAML node", where);
        const char *name, *value;
        size_t name_len, value_len;
        char q[QUOTE_MAX], q2[QUOTE_MAX];
        if ((rc = get_scalar(p, k, "a header name", WEBCONFIG_MAX_STRING_BYTES, &name, &name_len)) <
            0)
            return rc;
        size_t h = 0;
        while (h < n_allowed && strcmp(allowed_headers[h].name, name) != 0)
            h++;
        if (h == n_allowed)
            return fail(p, -EINVAL, k,
                        "%s: HTTP header \"%s\" can not be configured (only "
                        "Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, "
                        "X-XSS-Protection and Strict-Transport-Security)",
                        where, quote(name, name_len, q));
        if (seen & (1u << h))
            return fail(p, -EINVAL, k, "%s: header \"%s\" appears twice", where,
                        allowed_headers[h].name);
        seen |= 1u << h;
        if ((rc = get_scalar(p, v, allowed_headers[h].name, WEBCONFIG_MAX_STRING_BYTES, &value,
                             &value_len)) < 0)
            return rc;
        const char *const *values = allowed_headers[h].values;
        if (values[0]) {
            size_t i = 0;
            while (values[i] && strcmp(values[i], value) != 0)
                i++;
            if (!values[i])
                return fail(p, -EINVAL, v, "%s: invalid value for %s: \"%s\" (want %s%s%s)", where,
                            allowed_headers[h].name, quote(value, value_len, q2), values[0],
                            values[1] ? " or " : "", values[1] ? values[1] : "");
        }
        /* A value is written into every response as is: no control characters (a CR or LF
         * would split the response), tab aside as HTTP allows it. */
        for (size_t i = 0; i < value_len; i++) {
            unsigned char c = (unsigned char)value[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return fail(p, -EINVAL, v, "%s: the value of %s contains a control character",
                            where, allowed_headers[h].name);
        }
        if (value_len == 0) /* "Unset if blank" (upstream's docs) */
            continue;
        struct webconfig_header *hd = &wc->headers[wc->n_headers];
        hd->name = strdup(allowed_headers[h].name);
        hd->value = strndup(value, value_len);
        if (hd->name || hd->value)
            wc->n_headers++;
        if (!hd->name || !hd->value)
            return fail(p, -ENOMEM, k, "%s: out of memory", where);
    }
    return 0;
}

/* ---- rate_limit ---- */

/* Go's time.ParseDuration, for non-negative values: "0", or one or more of a decimal
 * number (fraction allowed) and a unit: ns, us, µs, μs, ms, s, m, h. Returns 0 or
 * -EINVAL / -ERANGE. */
static int parse_go_duration(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
        {"ms", 1000000},
        {"s", 1000000000ull},
        {"m", 60ull * 1000000000ull},
        {"h", 3600ull * 1000000000ull},
    };
    if (*s == '+')
        s++;
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0')
        return -EINVAL;
    uint64_t total = 0;
    while (*s) {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool digits = false;
        while (*s >= '0' && *s <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                return -ERANGE;
            whole = whole * 10 + (uint64_t)(*s++ - '0');
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                /* Digits past nanosecond precision of an hour add nothing: drop them. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                digits = true;
            }
        }
        if (!digits)
            return -EINVAL;
        size_t u = 0, ulen = 0;
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            ulen = strlen(units[u].unit);
            /* "m" must not take the "m" of "ms": try longer units first by table order. */
            if (strncmp(s, units[u].unit, ulen) == 0)
                break;
        }
        if (u == sizeof(units) / sizeof(units[0]))
            return -EINVAL;
        s += ulen;
        uint64_t unit = units[u].ns;
        if (whole > UINT64_MAX / unit)
            return -ERANGE;
        uint64_t v = whole * unit;
        /* frac / scale of a unit, in ns; unit <= 3.6e12 and frac < scale <= 1e18, so do it
         * in long double to keep within range. */
        v += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
        if (v > UINT64_MAX - total)
            return -ERANGE;
        total += v;
    }
    /* Go's durations are int64 nanoseconds: larger ones do not exist there. */
    if (total > (uint64_t)INT64_MAX)
        return -ERANGE;
    *ns = total;
    return 0;
}

/* A non-negative decimal integer, optional '+' as Go accepts. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (*s == '+')
        s++;
    if (*s == '\0')
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int on_interval(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *what = "rate_limit.interval";
    const char *s;
    size_t len;
    int rc = get_scalar(p, val, what, WEBCONFIG_MAX_STRING_BYTES, &s, &len);
    if (rc < 0 || is_null(val))
        return rc;
    /* yaml.v2 reads a plain integer into a time.Duration as nanoseconds, a string with
     * time.ParseDuration. */
    if (parse_uint(s, INT64_MAX, &p->wc->rate_limit_interval_ns) == 0 &&
        val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return 0;
    if (parse_go_duration(s, &p->wc->rate_limit_interval_ns) == 0)
        return 0;
    char q[QUOTE_MAX];
    return fail(p, -EINVAL, val,
                "%s: \"%s\" is not a duration (a Go duration such as 1s, 250ms or 1m30s; not "
                "negative)",
                what, quote(s, len, q));
}

static int on_burst(struct parse *p, yaml_node_t *key, yaml_node_t *val)
{
    const char *what = "rate_limit.burst";
    const char *s;
    size_t len;
    int rc = get_scalar(p, val, what, WEBCONFIG_MAX_STRING_BYTES, &s, &len);
    if (rc < 0 || is_null(val))
        return rc;
    if (val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        parse_uint(s, INT64_MAX, &p->wc->rate_limit_burst) == 0)
        return 0;
    char q[QUOTE_MAX];
    return fail(p, -EINVAL, val, "%s: \"%s\" is not a non-negative integer", what,
                quote(s, len, q));
}

/* ---- whole-file checks ---- */

static int check_tls(struct parse *p)
{
    struct webconfig *wc = p->wc;
    yaml_node_t *at = p->tls_node;
    const char *w = "tls_server_config";
    /* TLS versions apply whether or not TLS is on: a file asking for TLS 1.3 expects it. */
    int min = p->min_version ? p->min_version : 12, max = p->max_version ? p->max_version : 13;
    if (min == 13)
        return fail(p, -EINVAL, p->min_node,
                    "%s.min_version: TLS13 is not available: mbedTLS 2.28 speaks TLS up to 1.2 "
                    "(use TLS12)",
                    w);
    if (min > max)
        return fail(p, -EINVAL, p->max_node, "%s: min_version TLS%d is above max_version TLS%d", w,
                    min, max);
        /* TLS 1.0 and 1.1 exist only if this mbedTLS was built with them. */
#if !defined(MBEDTLS_SSL_PROTO_TLS1)
    if (min == 10 || max == 10)
        return fail(p, -EINVAL, p->min_node, "%s: TLS10 is not built into this mbedTLS", w);
#endif
#if !defined(MBEDTLS_SSL_PROTO_TLS1_1)
    if (min == 11 || max == 11)
        return fail(p, -EINVAL, p->min_node, "%s: TLS11 is not built into this mbedTLS", w);
#endif
    wc->min_minor = MBEDTLS_SSL_MINOR_VERSION_1 + (min - 10);
    wc->max_minor =
        max >= 12 ? MBEDTLS_SSL_MINOR_VERSION_3 : MBEDTLS_SSL_MINOR_VERSION_1 + (max - 10);

    if (p->suites_given && wc->n_cipher_suites == 0)
        return fail(p, -EINVAL, at,
                    "%s.cipher_suites names only TLS 1.3 suites, and TLS 1.3 is not available "
                    "here: name TLS 1.2 suites too",
                    w);

    /* upstream's TLSConfig.IsEnabled(): any of these turns TLS on. */
    wc->tls = wc->cert_file || wc->cert_pem || wc->key_file || wc->key_pem || wc->client_ca_file ||
              wc->client_ca_pem || p->auth_given;
    if (wc->tls) {
        if (wc->cert_file && wc->cert_pem)
            return fail(p, -EINVAL, at, "%s: cert and cert_file are both set: use one", w);
        if (wc->key_file && wc->key_pem)
            return fail(p, -EINVAL, at, "%s: key and key_file are both set: use one", w);
        if (wc->client_ca_file && wc->client_ca_pem)
            return fail(p, -EINVAL, at, "%s: client_ca and client_ca_file are both set: use one",
                        w);
        if (!wc->cert_file && !wc->cert_pem)
            return fail(p, -EINVAL, at, "%s: missing one of cert or cert_file", w);
        if (!wc->key_file && !wc->key_pem)
            return fail(p, -EINVAL, at, "%s: missing one of key or key_file", w);
    }
    bool ca = wc->client_ca_file || wc->client_ca_pem;
    if (ca && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
        return fail(p, -EINVAL, at,
                    "%s: a client CA is configured but client_auth_type is NoClientCert (set "
                    "client_auth_type: RequireAndVerifyClientCert to verify clients)",
                    w);
    if (p->sans_given && wc->n_allowed_sans == 0)
        return fail(p, -EINVAL, at,
                    "%s: client_allowed_sans is empty, so no client certificate could match", w);
    if (wc->n_allowed_sans > 0 && wc->client_auth == WEBCONFIG_NO_CLIENT_CERT)
        return fail(p, -EINVAL, at,
                    "%s: client_allowed_sans is set but client_auth_type is NoClientCert, so no "
                    "client certificate would be checked",
                    w);
    return 0;
}

/* ---- entry points ---- */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL; /* "." joined to a relative path is the path itself */
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int webconfig_parse(const char *text, size_t len, const char *path_for_errors, struct webconfig *wc,
                    char *err, size_t err_len)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool parser_ok = false, have_doc = false, have_extra = false;
    struct parse p = {
        .doc = &doc,
        .path = path_for_errors ? path_for_errors : "<input>",
        .wc = wc,
        .err = err,
        .err_len = err_len,
    };
    int rc = 0;

    memset(wc, 0, sizeof(*wc));
    wc->prefer_server_cipher_suites = true;
    wc->http2 = true;
    wc->min_minor = MBEDTLS_SSL_MINOR_VERSION_3;
    wc->max_minor = MBEDTLS_SSL_MINOR_VERSION_3;
    if (err && err_len)
        err[0] = '\0';

    if (len > WEBCONFIG_MAX_BYTES) {
        rc = fail(&p, -EFBIG, NULL, "file is larger than %d bytes", WEBCONFIG_MAX_BYTES);
        goto out;
    }
    if (path_for_errors && !(p.dir = dir_of(path_for_errors)) && strchr(path_for_errors, '/')) {
        rc = fail(&p, -ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = fail(&p, -ENOMEM, NULL, "out of memory");
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
        const yaml_mark_t *m = &parser.problem_mark;
        if (p.err && p.err_len)
            snprintf(p.err, p.err_len, "%s:%zu:%zu: YAML: %s%s%s", p.path, m->line + 1,
                     m->column + 1, parser.problem ? parser.problem : "error",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        goto out;
    }
    have_doc = true;
    /* yaml.v2 reads the first document only; a second one is surely a mistake. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = -EINVAL;
        const yaml_mark_t *m = &parser.problem_mark;
        if (p.err && p.err_len)
            snprintf(p.err, p.err_len, "%s:%zu:%zu: YAML: %s", p.path, m->line + 1, m->column + 1,
                     parser.problem ? parser.problem : "error");
        goto out;
    }
    have_extra = true;
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second) {
        rc = fail(&p, -EINVAL, second, "a second YAML document: the file must hold one");
        goto out;
    }

    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) { /* an empty file is a valid, empty configuration */
        if ((rc = walk_map(&p, root, "the top level", top_keys,
                           sizeof(top_keys) / sizeof(top_keys[0]))) < 0)
            goto out;
    }
    rc = check_tls(&p);

out:
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    free(p.dir);
    if (rc < 0)
        webconfig_close(wc);
    return rc;
}

int webconfig_load(const char *path, struct webconfig *wc, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    memset(wc, 0, sizeof(*wc));
    if (err && err_len)
        err[0] = '\0';
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* Read up to one byte past the limit, whatever fstat would say: a FIFO or /proc file
     * has no size, and a file may grow while we read. */
    text = malloc(WEBCONFIG_MAX_BYTES + 1);
    if (!text) {
        rc = -ENOMEM;
        goto out;
    }
    while (len < WEBCONFIG_MAX_BYTES + 1) {
        ssize_t n = read(fd, text + len, WEBCONFIG_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    /* webconfig_parse() refuses a text over the limit with -EFBIG and names the file. */
    rc = webconfig_parse(text, len, path, wc, err, err_len);

out:
    if (rc < 0 && err && err_len && err[0] == '\0')
        snprintf(err, err_len, "%s: %s", path, strerror(-rc));
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

void webconfig_close(struct webconfig *wc)
{
    free(wc->cert_file);
    free(wc->key_file);
    free(wc->client_ca_file);
    free(wc->cert_pem);
    if (wc->key_pem) /* a private key: do not leave it in freed memory */
        explicit_bzero(wc->key_pem, strlen(wc->key_pem));
    free(wc->key_pem);
    free(wc->client_ca_pem);
    free(wc->cipher_suites);
    free(wc->curves);
    for (size_t i = 0; i < wc->n_allowed_sans; i++)
        free(wc->allowed_sans[i]);
    free(wc->allowed_sans);
    for (size_t i = 0; i < wc->n_headers; i++) {
        free(wc->headers[i].name);
        free(wc->headers[i].value);
    }
    free(wc->headers);
    for (size_t i = 0; i < wc->n_users; i++) {
        free(wc->users[i].name);
        free(wc->users[i].hash);
    }
    free(wc->users);
    memset(wc, 0, sizeof(*wc));
}

const char *webconfig_user_hash(const struct webconfig *wc, const char *user)
{
    for (size_t i = 0; i < wc->n_users; i++)
        if (strcmp(wc->users[i].name, user) == 0)
            return wc->users[i].hash;
    return NULL;
}

const char *webconfig_client_auth_name(enum webconfig_client_auth a)
{
    for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++)
        if (client_auths[i].auth == a)
            return client_auths[i].name;
    return "unknown";
}
