/* routes.h - the proxy's route table: every kind of request it answers, in one place. */
#ifndef PROXY_ROUTES_H
#define PROXY_ROUTES_H

#include "conn.h"

/* The table, its body limits read from the flags. Call after config_parse(), before the
 * workers start; the table lives as long as the process. */
const struct route_table *routes_table(void);

#endif
