/* main.c - pushprox-bench: parses flags, raises the fd limit, runs, reports.
 * Owner: the main thread; everything else happens in forked worker processes (parent.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <uv.h>

#include "check.h"
#include "dial.h"
#include "flags.h"
#include "log.h"
#include "parent.h"
#include "report.h"
#include "run.h"
#include "version.h"

struct bench_flags {
#define FLAG(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

static const struct flag_def bench_flag_defs[] = {
#define FLAG(type, field, name, def, help)                                                         \
    FLAGS_TABLE_ROW(struct bench_flags, type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

/* Longest --scrape.plain-path (it goes into a scraper's SCRAPER_REQ_MAX_BYTES request). */
#define BENCH_PLAIN_PATH_MAX 256

static void die(const char *flag, const char *value, const char *what)
{
    fprintf(stderr, "pushprox-bench: --%s: \"%s\": %s\n", flag, value, what);
    exit(2);
}

/* Raises RLIMIT_NOFILE to its hard limit (each worker process inherits it). */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = old;
    }
    return (uint64_t)rl.rlim_cur;
}

/* What --help-long and the man page (--help-man) say besides the flags. */
static const char bench_description[] =
    "pushprox-bench runs against a pushprox-proxy that is already running (--proxy.address). "
    "It simulates --clients clients, each holding a long poll under the FQDN c<N>.bench (by "
    "default) and "
    "pushing a --body-size response that names its FQDN and the scrape's Id, and --scrapers "
    "Prometheus-style scrapers of http://c<N>.bench:9100/metrics through the proxy: closed "
    "loop (that many scrapes in flight) or open loop at --rate scrapes a second, latency "
    "then counted from the intended send time.\n\n"
    "Every answer is checked: status, length, the FQDN in the body, each Id delivered to one "
    "client once and answering one scrape once. It prints throughput, latency percentiles and "
    "errors by kind (--json: one JSON object) and, with --proxy-pid, the proxy's memory per "
    "idle client and CPU per scrape from /proc. It exits 1 on a misrouted, lost or duplicated "
    "scrape (--strict: on any error).";

int main(int argc, char **argv)
{
    struct bench_flags f;
    char version[256];

    version_line(version, sizeof(version), "pushprox-bench");
    const struct flags_program prog = {
        .name = "pushprox-bench",
        .summary = "Simulates a fleet of PushProx clients and Prometheus scrapers against a "
                   "pushprox-proxy; checks every scrape and reports throughput, latency, "
                   "errors and the proxy's memory and CPU.",
        .version = version,
        .source = "pushprox-c " PUSHPROX_VERSION,
        .description = bench_description,
        .see_also = (const char *const[]){"pushprox-proxy(1)", NULL},
    };
    flags_parse(bench_flag_defs, sizeof(bench_flag_defs) / sizeof(bench_flag_defs[0]), &f, &prog,
                argc, argv);

    enum log_level lvl;
    enum log_format fmt;
    if (log_level_parse(f.log_level, &lvl) != 0)
        die("log.level", f.log_level, "not one of debug, info, warn, error");
    if (log_format_parse(f.log_format, &fmt) != 0)
        die("log.format", f.log_format, "not one of logfmt, json");
    log_setup(lvl, fmt, 2);

    static struct run run;
    memset(&run, 0, sizeof(run));
    if (f.clients < 0)
        die("clients", "<0", "must be >= 0");
    if (f.scrapers < 0)
        die("scrapers", "<0", "must be >= 0");
    if (f.threads < 1 || f.threads > RUN_MAX_THREADS)
        die("threads", "?", "must be 1..64");
    if (f.procs < 1 || f.procs > RUN_MAX_PROCS)
        die("procs", "?", "must be 1..64");
    char *end;
    run.rate = strtod(f.rate, &end);
    if (*end || run.rate < 0)
        die("rate", f.rate, "not a non-negative number of scrapes per second");
    run.clients = (uint64_t)f.clients;
    run.scrapers = (uint64_t)f.scrapers;
    run.threads = (uint64_t)f.threads;
    run.procs = (uint64_t)f.procs;
    if (run.procs > run.clients && run.clients > 0)
        run.procs = run.clients;
    run.body_bytes = f.body_size;
    run.duration_ms = f.duration;
    run.scrapes = f.scrapes > 0 ? (uint64_t)f.scrapes : 0;
    if (run.duration_ms == 0 && run.scrapes == 0 && run.scrapers > 0)
        die("duration", "0", "needs --scrapes when the duration is 0");
    if (f.scrape_plain_path && f.scrape_plain_path[0]) {
        if (f.scrape_plain_path[0] != '/' || strlen(f.scrape_plain_path) > BENCH_PLAIN_PATH_MAX ||
            strpbrk(f.scrape_plain_path, " \r\n"))
            die("scrape.plain-path", f.scrape_plain_path,
                "not a path starting with / (at most 256 bytes, no spaces)");
        run.plain_path = f.scrape_plain_path;
        run.clients = 0; /* nothing to poll: the scrapers talk to the server itself */
    }
    if (strcmp(f.client_mode, "pipelined") == 0)
        run.client_mode = RUN_CLIENTS_PIPELINED;
    else if (strcmp(f.client_mode, "upstream") == 0)
        run.client_mode = RUN_CLIENTS_UPSTREAM;
    else
        die("client-mode", f.client_mode, "not one of pipelined, upstream");
    run.scrape_delay_ms = f.client_scrape_delay;
    if (f.handshakes < 0)
        die("handshakes", "<0", "must be >= 0");
    run.handshakes = (uint64_t)f.handshakes;
    if (run.handshakes && run.plain_path)
        die("handshakes", "?", "not with --scrape.plain-path (one phase or the other)");
    if (run.handshakes) {
        /* The phase is the handshakes alone: no fleet to register, nothing to scrape. */
        run.clients = run.scrapers = 0;
        run.scrapes = 0;
    }
    if (run.clients == 0 && run.scrapers > 0 && !run.plain_path)
        die("scrapers", "?", "scrapers need --clients > 0");
    run.scrape_timeout_ms = f.scrape_timeout ? f.scrape_timeout : 10000;
    run.grace_ms = f.grace;
    run.idle_ms = f.idle;
    run.registration_wait_ms = f.registration_wait;
    run.source_addrs = f.source_addrs > 0 ? (uint64_t)f.source_addrs : 0;
    if (run.source_addrs > 250)
        die("source-addrs", "?", "must be 0..250 (127.0.0.2 .. 127.0.0.251)");
    run.connect_concurrency = f.connect_concurrency > 0 ? (uint64_t)f.connect_concurrency : 1;
    run.seed = (uint64_t)f.seed;
    run.target_port = (int)f.target_port;
    run.pipeline = f.client_pipeline;
    run.progress = f.progress;
    run.check_clients = f.check_clients;
    run.proxy_pid = (pid_t)f.proxy_pid;
    run.fqdn_suffix = f.fqdn_suffix;

    char host[48];
    int port;
    if (flags_split_hostport(f.proxy_address, host, sizeof(host), &port) != 0 ||
        uv_ip4_addr(strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port, &run.proxy) != 0)
        die("proxy.address", f.proxy_address, "not an IPv4 host:port");
    snprintf(run.proxy_hostport, sizeof(run.proxy_hostport), "%s:%d",
             strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port);

    /* TLS: checked here, once, so a bad file is one message and exit 2 rather than one
     * per worker thread (each thread then loads its own conf: dial.h). */
    static struct dial_tls tls;
    if (f.tls_cacert[0] || f.tls_cert[0] || f.tls_key[0]) {
        if (!f.tls_cert[0] != !f.tls_key[0])
            die(f.tls_cert[0] ? "tls.key" : "tls.cert", "", "--tls.cert and --tls.key go together");
        tls.opts = (struct tls_client_opts){
            .cacert = f.tls_cacert, .cert = f.tls_cert, .key = f.tls_key, .what = "--tls"};
        tls.server_name = f.tls_server_name[0]           ? f.tls_server_name
                          : strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                                                         : strdup(host);
        tls.resume = f.tls_resume;
        char err[TLS_ERR_MAX];
        struct tls_conf *probe = tls_conf_new_client(&tls.opts, err, sizeof(err));
        if (!probe) {
            fprintf(stderr, "pushprox-bench: %s\n", err);
            exit(2);
        }
        tls_conf_unref(probe);
        run.tls = &tls;
    } else if (run.handshakes) {
        die("handshakes", "?", "needs TLS: --tls.cacert, and --tls.cert/--tls.key for mTLS");
    }

    /* Filler lines shared by every push; a body's filler is a suffix of this. */
    run.filler_len =
        (size_t)((run.body_bytes + CHECK_FILLER_LINE - 1) / CHECK_FILLER_LINE) * CHECK_FILLER_LINE;
    run.filler = malloc(run.filler_len ? run.filler_len : 1);
    if (!run.filler) {
        fprintf(stderr, "pushprox-bench: out of memory for %zu filler bytes\n", run.filler_len);
        return 3;
    }
    check_fill(run.filler, run.filler_len);

    uint64_t nofile = raise_nofile();
    /* An upstream-like client holds two connections in steady state and a third while
     * a push overlaps the previous one. */
    uint64_t conns_per_client = run.client_mode == RUN_CLIENTS_UPSTREAM ? 3 : 1;
    uint64_t per_proc = (run.clients + run.procs - 1) / run.procs * conns_per_client +
                        run.scrapers / run.procs + 64;
    log_info("main", "open-file limit raised to the hard limit", LOG_UINT("nofile", nofile),
             LOG_UINT("fds_needed_per_proc", per_proc));
    if (per_proc > nofile)
        log_warn("main", "clients per process exceed the open-file limit; use more --procs",
                 LOG_UINT("nofile", nofile), LOG_UINT("per_proc", per_proc));

    struct run_result res;
    int rc = parent_run(&run, &res);
    res.nofile_limit = nofile;
    const char *label = f.label ? f.label : "";
    if (f.json)
        report_json(stdout, &run, &res, label);
    else
        report_table(stdout, &run, &res, label);
    fflush(stdout);

    int status = 0;
    if (stats_fatal_errors(&res.st) || (f.strict && stats_total_errors(&res.st)))
        status = 1;
    else if (rc != 0)
        status = 3;
    stats_close(&res.st);
    free(run.filler);
    return status;
}
