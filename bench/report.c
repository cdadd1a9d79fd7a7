/* report.c - the final table and JSON (see report.h).
 * Owner: pure functions; nothing kept. */
#include "report.h"

#include <string.h>

#include "dial.h"
#include "hist.h"
#include "stats.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double rate_of(const struct run_result *res)
{
    return res->scrape_s > 0 ? (double)res->st.scrapes_ok / res->scrape_s : 0;
}

static const char *mode_name(const struct run *run)
{
    if (run->plain_path)
        return "plain";
    return run->client_mode == RUN_CLIENTS_UPSTREAM ? "upstream" : "pipelined";
}

/* Client connections dialled during the scrape phase per scrape answered OK. */
static double conns_per_scrape(const struct run_result *res)
{
    return res->st.scrapes_ok ? (double)res->st.conns_opened_scrape / (double)res->st.scrapes_ok
                              : 0;
}

static double kib_per_client(const struct run_result *res)
{
    if (!res->have_proxy || res->registered == 0 ||
        res->proxy_rss_idle_kib < res->proxy_rss_before_kib)
        return 0;
    return (double)(res->proxy_rss_idle_kib - res->proxy_rss_before_kib) / (double)res->registered;
}

static double us_per_scrape(const struct run_result *res)
{
    if (!res->have_proxy || res->st.scrapes_ok == 0)
        return 0;
    return res->proxy_cpu_scrape_s * 1e6 / (double)res->st.scrapes_ok;
}

static uint64_t handshakes(const struct run_result *res)
{
    return res->st.handshakes_full + res->st.handshakes_resumed;
}

/* --handshakes: handshakes per second of the phase, and the proxy's CPU per handshake. */
static double handshakes_per_s(const struct run *run, const struct run_result *res)
{
    return run->handshakes && res->scrape_s > 0 ? (double)handshakes(res) / res->scrape_s : 0;
}

static double us_per_handshake(const struct run *run, const struct run_result *res)
{
    if (!run->handshakes || !res->have_proxy || handshakes(res) == 0)
        return 0;
    return res->proxy_cpu_scrape_s * 1e6 / (double)handshakes(res);
}

void report_table(FILE *out, const struct run *run, const struct run_result *res, const char *label)
{
    const struct stats *st = &res->st;
    const struct hist *h = &st->latency_ns;
    fprintf(out,
            "pushprox-bench%s%s: %llu clients, %llu scrapers (%s), %llu-byte bodies, "
            "%llu procs x %llu threads\n",
            label[0] ? " " : "", label, (unsigned long long)run->clients,
            (unsigned long long)run->scrapers, run->rate > 0 ? "open loop" : "closed loop",
            (unsigned long long)run->body_bytes, (unsigned long long)run->procs,
            (unsigned long long)run->threads);
    if (run->rate > 0)
        fprintf(out, "  %-20s %.0f scrapes/s\n", "target rate", run->rate);
    fprintf(out, "  %-20s %llu registered in %.2f s (proxy lists %lld)\n", "clients",
            (unsigned long long)res->registered, res->connect_s, res->proxy_listed);
    if (run->tls)
        fprintf(out, "  %-20s %llu full, %llu resumed (%s)\n", "TLS handshakes",
                (unsigned long long)st->handshakes_full, (unsigned long long)st->handshakes_resumed,
                run->tls->resume ? "sessions resumed" : "--no-tls.resume");
    if (run->handshakes) {
        fprintf(out, "  %-20s %.2f s: %.1f handshakes/s; latency ms p50 %.3f p99 %.3f\n",
                "handshake phase", res->scrape_s, handshakes_per_s(run, res),
                ms(hist_percentile(h, 50)), ms(hist_percentile(h, 99)));
        if (res->have_proxy)
            fprintf(out, "  %-20s %.2f s = %.1f us per handshake (%.0f handshakes/s per core)\n",
                    "proxy CPU", res->proxy_cpu_scrape_s, us_per_handshake(run, res),
                    us_per_handshake(run, res) > 0 ? 1e6 / us_per_handshake(run, res) : 0);
    }
    fprintf(out, "  %-20s %.2f s\n", "scrape phase", res->scrape_s);
    fprintf(out, "  %-20s %llu ok of %llu sent (%.1f/s, %.1f MB/s of bodies)\n", "scrapes",
            (unsigned long long)st->scrapes_ok, (unsigned long long)st->scrapes_sent, rate_of(res),
            res->scrape_s > 0 ? (double)st->scrape_body_bytes / res->scrape_s / 1e6 : 0);
    if (st->scrapes_unsent)
        fprintf(out, "  %-20s %llu (the open loop fell behind)\n", "scheduled, unsent",
                (unsigned long long)st->scrapes_unsent);
    fprintf(out, "  %-20s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
            "latency ms", ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
            ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(h->count ? h->max : 0),
            hist_mean(h) / 1e6);
    fprintf(out, "  %-20s", "errors");
    for (int i = 0; i < STATS_ERR_N; i++)
        fprintf(out, " %s %llu", stats_err_name((enum stats_err)i),
                (unsigned long long)st->errors[i]);
    fprintf(out,
            "\n  %-20s delivered twice %llu, answered twice %llu, never pushed %llu, "
            "polls given another fqdn's scrape %llu\n",
            "id checks", (unsigned long long)res->dup_delivered,
            (unsigned long long)res->dup_answered, (unsigned long long)res->unknown_ids,
            (unsigned long long)res->st.polls_wrong_host);
    fprintf(out, "  %-20s polls %llu (work %llu, expired %llu), pushes %llu (ok %llu)\n",
            "client traffic", (unsigned long long)st->polls_sent,
            (unsigned long long)st->polls_work, (unsigned long long)st->polls_expired,
            (unsigned long long)st->pushes_sent, (unsigned long long)st->pushes_ok);
    fprintf(out,
            "  %-20s %s; %llu connections opened while scraping (%.3f per scrape), %llu closed "
            "after use (idle pool full)\n",
            "client mode", mode_name(run), (unsigned long long)st->conns_opened_scrape,
            conns_per_scrape(res), (unsigned long long)st->conns_closed_extra);
    if (res->have_proxy) {
        fprintf(out, "  %-20s pid %d, %llu threads\n", "proxy", (int)run->proxy_pid,
                (unsigned long long)res->proxy_threads);
        fprintf(out, "  %-20s before %.1f MiB, idle %.1f MiB, peak %.1f MiB (VmHWM %.1f MiB)\n",
                "proxy RSS", res->proxy_rss_before_kib / 1024.0, res->proxy_rss_idle_kib / 1024.0,
                res->proxy_rss_peak_kib / 1024.0, res->proxy_hwm_kib / 1024.0);
        fprintf(out, "  %-20s %.3f KiB\n", "per idle client", kib_per_client(res));
        fprintf(out, "  %-20s %.2f s during the scrape phase = %.1f us per scrape\n", "proxy CPU",
                res->proxy_cpu_scrape_s, us_per_scrape(res));
    }
    fprintf(out, "  %-20s %.2f s (whole run, all worker processes)\n", "harness CPU",
            res->harness_cpu_s);
    fprintf(out, "  %-20s %s\n", "verdict",
            stats_fatal_errors(st)   ? "FAIL (misrouted, lost or duplicate scrapes)"
            : stats_total_errors(st) ? "errors (none misrouted, lost or duplicate)"
                                     : "ok");
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", *s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

void report_json(FILE *out, const struct run *run, const struct run_result *res, const char *label)
{
    const struct stats *st = &res->st;
    const struct hist *h = &st->latency_ns;
    fprintf(out, "{\"label\":");
    json_str(out, label);
    fprintf(out,
            ",\"clients\":%llu,\"scrapers\":%llu,\"rate\":%.3f,\"body_bytes\":%llu,"
            "\"procs\":%llu,\"threads\":%llu,\"registered\":%llu,\"proxy_listed\":%lld,"
            "\"connect_s\":%.3f,\"scrape_s\":%.3f,",
            (unsigned long long)run->clients, (unsigned long long)run->scrapers, run->rate,
            (unsigned long long)run->body_bytes, (unsigned long long)run->procs,
            (unsigned long long)run->threads, (unsigned long long)res->registered,
            res->proxy_listed, res->connect_s, res->scrape_s);
    fprintf(out,
            "\"scrapes_sent\":%llu,\"scrapes_ok\":%llu,\"scrapes_answered\":%llu,"
            "\"scrapes_unsent\":%llu,\"scrapes_per_s\":%.1f,\"body_bytes_total\":%llu,",
            (unsigned long long)st->scrapes_sent, (unsigned long long)st->scrapes_ok,
            (unsigned long long)st->scrapes_answered, (unsigned long long)st->scrapes_unsent,
            rate_of(res), (unsigned long long)st->scrape_body_bytes);
    fprintf(out,
            "\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"p99_9\":%.4f,\"max\":%.4f,"
            "\"mean\":%.4f,\"count\":%llu},",
            ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)), ms(hist_percentile(h, 99)),
            ms(hist_percentile(h, 99.9)), ms(h->count ? h->max : 0), hist_mean(h) / 1e6,
            (unsigned long long)h->count);
    fprintf(out, "\"errors\":{");
    for (int i = 0; i < STATS_ERR_N; i++)
        fprintf(out, "%s\"%s\":%llu", i ? "," : "", stats_err_name((enum stats_err)i),
                (unsigned long long)st->errors[i]);
    fprintf(out,
            "},\"errors_total\":%llu,\"errors_fatal\":%llu,\"dup_delivered\":%llu,"
            "\"dup_answered\":%llu,\"unknown_ids\":%llu,\"polls_wrong_host\":%llu,",
            (unsigned long long)stats_total_errors(st), (unsigned long long)stats_fatal_errors(st),
            (unsigned long long)res->dup_delivered, (unsigned long long)res->dup_answered,
            (unsigned long long)res->unknown_ids, (unsigned long long)res->st.polls_wrong_host);
    fprintf(out,
            "\"polls_sent\":%llu,\"polls_work\":%llu,\"polls_expired\":%llu,\"pushes_sent\":%llu,"
            "\"pushes_ok\":%llu,\"nofile_limit\":%llu,\"harness_cpu_s\":%.3f,"
            "\"tls\":%s,\"tls_resume\":%s,\"handshakes_full\":%llu,\"handshakes_resumed\":%llu,"
            "\"handshake_mode\":%s,\"handshakes_per_s\":%.1f,",
            (unsigned long long)st->polls_sent, (unsigned long long)st->polls_work,
            (unsigned long long)st->polls_expired, (unsigned long long)st->pushes_sent,
            (unsigned long long)st->pushes_ok, (unsigned long long)res->nofile_limit,
            res->harness_cpu_s, run->tls ? "true" : "false",
            run->tls && run->tls->resume ? "true" : "false",
            (unsigned long long)st->handshakes_full, (unsigned long long)st->handshakes_resumed,
            run->handshakes ? "true" : "false", handshakes_per_s(run, res));
    fprintf(out,
            "\"client_mode\":\"%s\",\"conns_opened_scrape\":%llu,\"conns_closed_extra\":%llu,"
            "\"conns_per_scrape\":%.4f",
            mode_name(run), (unsigned long long)st->conns_opened_scrape,
            (unsigned long long)st->conns_closed_extra, conns_per_scrape(res));
    if (res->have_proxy)
        fprintf(out,
                ",\"proxy\":{\"pid\":%d,\"threads\":%llu,\"rss_before_kib\":%llu,"
                "\"rss_idle_kib\":%llu,\"rss_peak_kib\":%llu,\"hwm_kib\":%llu,"
                "\"kib_per_idle_client\":%.4f,\"cpu_scrape_s\":%.3f,\"cpu_us_per_scrape\":%.2f,"
                "\"cpu_us_per_handshake\":%.2f}",
                (int)run->proxy_pid, (unsigned long long)res->proxy_threads,
                (unsigned long long)res->proxy_rss_before_kib,
                (unsigned long long)res->proxy_rss_idle_kib,
                (unsigned long long)res->proxy_rss_peak_kib, (unsigned long long)res->proxy_hwm_kib,
                kib_per_client(res), res->proxy_cpu_scrape_s, us_per_scrape(res),
                us_per_handshake(run, res));
    fprintf(out, "}\n");
}
