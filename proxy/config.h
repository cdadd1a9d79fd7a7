/* config.h - the proxy's flags, parsed once in main() before any worker starts and
 * read-only afterwards, so every thread may read `config` without synchronisation. */
#ifndef PROXY_CONFIG_H
#define PROXY_CONFIG_H

#include "flags.h"

/* --workers.fold-below's ceiling: folded, the workers share one thread, which must be able
 * to use twice the threshold for them to unfold (fold.c). */
#define CONFIG_FOLD_BELOW_MAX_PERCENT 45

struct config {
#define FLAG(type, field, name, def, help) FLAGS_STRUCT_MEMBER(type, field, name, def, help)
#include "flags.def"
#undef FLAG
};

extern struct config config;

/* Parses argv into `config` (exits on --help, --version and bad input) and checks the
 * values' ranges. */
void config_parse(int argc, char **argv);

/* --replica.name (this host's name when empty), escaped for a JSON string. Set by
 * config_parse(); any thread afterwards. */
const char *config_replica_json(void);

#endif
