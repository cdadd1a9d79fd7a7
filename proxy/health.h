/* health.h - GET /-/healthy and GET /-/ready, for load balancers' and Kubernetes' checks
 * (the paths Prometheus itself serves). */
#ifndef PROXY_HEALTH_H
#define PROXY_HEALTH_H

struct conn;

/* 200 while the process serves requests at all. */
void health_on_healthy(struct conn *c);
/* 200 when every worker runs and the process is not draining; 503 otherwise. */
void health_on_ready(struct conn *c);

#endif
