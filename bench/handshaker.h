/* handshaker.h - the --handshakes phase: TLS connections opened and closed as fast as the
 * proxy takes them, to measure its handshakes per second and CPU per handshake.
 *
 * Each handshaker is one connection slot: it connects (through dial.h, so with the run's
 * client certificate and, with --tls.resume, the thread's last session), counts the
 * handshake as full or resumed, records how long it took, and closes (close_notify, then
 * FIN). The thread keeps --connect.concurrency slots busy; a slot that closed tells the
 * thread through on_free, which starts the next while the quota lasts.
 *
 * Owner: the loop thread of its env, as every transport. Life: handshaker_env_init(),
 * handshaker_start() per connection, closed by itself (or handshaker_stop()), then
 * handshaker_env_close() once every slot's connection closed. */
#ifndef BENCH_HANDSHAKER_H
#define BENCH_HANDSHAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "run.h"
#include "stats.h"
#include "transport.h"

/* Ciphertext read at once: a handshake flight from the proxy (certificate chain included). */
#define HANDSHAKER_READ_BYTES (32 * 1024)

struct handshaker;

struct handshaker_env {
    const struct run *run;
    struct dial *dial;
    struct transport_env tr_env;
    struct stats *st;
    uint64_t in_flight; /* slots with a connection open or closing */
    /* h's connection closed: the thread may start the next one on it. */
    void (*on_free)(struct handshaker_env *env, struct handshaker *h);
};

struct handshaker {
    struct transport tr;
    struct handshaker_env *env;
    uint64_t idx;        /* picks the source address */
    uint64_t started_ns; /* when the connect began */
    bool busy;           /* a connection is open or closing */
    bool stopping;
};

/* Sets up the env; st, dial and on_free are the thread's. Returns 0 or UV_ENOMEM;
 * handshaker_env_close() either way. */
int handshaker_env_init(struct handshaker_env *env, uv_loop_t *loop, const struct run *run,
                        struct dial *dial, struct stats *st,
                        void (*on_free)(struct handshaker_env *env, struct handshaker *h));
void handshaker_env_close(struct handshaker_env *env);

void handshaker_init(struct handshaker *h, struct handshaker_env *env, uint64_t idx);
/* Opens one connection on the free slot h. Returns 0 (on_free follows once it closed), or
 * a UV_E* code counted as an error (on_free follows too if the handle was opened). */
int handshaker_start(struct handshaker *h);
/* Closes h's connection, if any; on_free is not asked for more. */
void handshaker_stop(struct handshaker *h);

#endif
