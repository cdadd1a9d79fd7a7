/* version.c - see version.h. No state. */
#include "version.h"

#include <llhttp.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <uv.h>

void version_line(char *out, size_t cap, const char *prog)
{
    snprintf(out, cap,
             "%s version %s (commit %s) libuv %s, mbedTLS %s, llhttp %d.%d.%d, Concurrency Kit",
             prog, PUSHPROX_VERSION, PUSHPROX_COMMIT, uv_version_string(), MBEDTLS_VERSION_STRING,
             LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
}
