/* Minimal HTTP/1.0 endpoint on libuv serving the Prometheus text exposition
 * (any GET gets the metrics; one response per connection, then close). */
#ifndef SUP_METRICS_H
#define SUP_METRICS_H

struct sup_mesh;
typedef struct sup_metrics sup_metrics;

/* Listens on "host:port" (IPv4 or [IPv6]:port). Returns 0 and *out, or
 * MESH_EINVAL (bad address: logged with the value) or a bind error. */
int sup_metrics_open(sup_metrics **out, struct sup_mesh *m, const char *listen);

/* Stops listening, closes connections; memory freed after libuv closes the
 * handles. Accepts NULL. */
void sup_metrics_close(sup_metrics *x);

#endif
