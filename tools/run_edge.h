/* tools: cleave-run's --edge mode: the same runs, on a gateway through the edge API. */
#ifndef CLEAVE_TOOLS_RUN_EDGE_H
#define CLEAVE_TOOLS_RUN_EDGE_H

#include "cleave.h"

typedef struct run_edge run_edge;

/* Opens url for ctx (which must have a loop). ca and token may be NULL. Prints the reason and returns NULL on
 * failure. */
run_edge *run_edge_open(cleave_ctx *ctx, const char *url, const char *ca, const char *token);
/* Runs model (named name on the gateway, addressed by its sha256; uploaded when missing) on inputs, waiting on
 * the loop; *res as cleave_run_sync gives it. Returns 0 or the error (its message printed). */
int run_edge_infer(run_edge *r, const cleave_model *model, const char *name, const cleave_tensor *in, size_t n,
                   cleave_result **res);
/* Prints the edge's estimates (RTT, bandwidth, load) on one line to f. */
void run_edge_print_stats(run_edge *r, FILE *f);
void run_edge_close(run_edge *r);

#endif
