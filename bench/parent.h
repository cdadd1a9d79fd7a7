/* parent.h - the parent process of a run: forks the worker processes (child.h), drives
 * the phases through the shared progress table, and gathers the results.
 *
 * It alone decides the phases: it waits until every client has its first poll out (and
 * the proxy lists them), measures the proxy idle, then opens the scrape phase by setting
 * shm->t0_ns and shm->phase; the children's stats arrive through their pipes. Each child
 * scrapes only the fqdns of its own clients, so Ids never cross processes during the run;
 * the parent checks them across all children at the end.
 * Owner: the parent process's main thread. */
#ifndef BENCH_PARENT_H
#define BENCH_PARENT_H

#include "run.h"

/* Runs everything: maps run->shm, forks the worker processes, drives the phases, prints
 * progress, reaps every child and merges their stats into res (initialised here; the
 * caller closes res->st). Returns 0, or a negative errno if a child failed or could not
 * be started (res then holds what arrived). A ^C or TERM stops the run early, with 0. */
int parent_run(struct run *run, struct run_result *res);

#endif
