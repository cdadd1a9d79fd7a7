/* tls_certs.h - the certificates of the TLS unit tests (tls_certs.sh), made once per test
 * binary, before any test runs, into a temporary directory removed after the last one.
 * Criterion runs each test in a process of its own; they find the directory through the
 * environment. Include once, in the test file. */
#ifndef PUSHPROX_TEST_TLS_CERTS_H
#define PUSHPROX_TEST_TLS_CERTS_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_CERTS_ENV "PUSHPROX_TEST_TLS_CERTS"

static char tls_certs_dir[256];

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    char cmd[1024], script[256];
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');

    (void)set;
    snprintf(script, sizeof(script), "%.*s/tls_certs.sh", slash ? (int)(slash - src) : 1,
             slash ? src : ".");
    snprintf(tls_certs_dir, sizeof(tls_certs_dir), "%s/pushprox-tls-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tls_certs_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(cmd, sizeof(cmd), "sh %s %s >%s/make.log 2>&1", script, tls_certs_dir, tls_certs_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "tls_certs.sh failed; see %s/make.log\n", tls_certs_dir);
        exit(1);
    }
    setenv(TLS_CERTS_ENV, tls_certs_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    char cmd[320 + sizeof(tls_certs_dir)];
    (void)stats;
    if (tls_certs_dir[0] && !getenv("KEEP_TLS_CERTS")) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_certs_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tls_certs_dir);
    }
}

/* The path of a file made by tls_certs.sh ("ca.crt"), in a static buffer of 8. */
static const char *cert_path(const char *name)
{
    static char bufs[8][320];
    static unsigned next;
    const char *dir = getenv(TLS_CERTS_ENV);
    char *out = bufs[next++ % 8];

    cr_assert(dir, "certificates were not made");
    snprintf(out, sizeof(bufs[0]), "%s/%s", dir, name);
    return out;
}

#endif
