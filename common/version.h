/* version.h - the --version line every binary prints: its version, the commit it was
 * built from, and the versions of the libraries it runs with. */
#ifndef PUSHPROX_VERSION_H
#define PUSHPROX_VERSION_H

#include <stddef.h>

/* Writes "<prog> version 0.1.0 (commit abc1234) libuv 1.44.2, mbedTLS 2.28.3, llhttp 8.1.0,
 * Concurrency Kit" into out. Can't fail (the line is cut to cap). */
void version_line(char *out, size_t cap, const char *prog);

#endif
