/* tools: cleave-link's control: the command language, presets, the control port and timed schedules.
 *
 * Commands (one line each, words separated by blanks; rates in Mbit/s, delays in ms one way, loss a
 * probability; a bare value sets both ways, up= and down= one way each):
 *   rate X | rate up=X down=Y        constant rate; 0 offline, "unlimited" no limit; replaces a trace
 *   delay MS | delay up=MS down=MS   one-way delay
 *   rtt MS                           both delays at MS / 2
 *   loss P | loss up=P down=P        packet loss probability, 0 <= P < 1
 *   trace FILE | trace up=FILE down=FILE   Mahimahi (.up/.down), CSV (.csv) or Pensieve (other) trace, from now
 *   preset NAME                      wifi, lte (or 4g), 3g, offline: rates, RTT, no loss
 *   cut | stall | restore            reset everything until restore | freeze everything until restore
 *   stats                            one JSON object
 *   help
 * Each is answered with one line: "ok ..." (the settings in force, the JSON for stats) or "error <why>". */
#ifndef CLEAVE_TOOLS_LINK_CONTROL_H
#define CLEAVE_TOOLS_LINK_CONTROL_H

#include "link_relay.h"

#define LINK_LINE_MAX 1024 /* bytes of a command line, newline excluded */
#define LINK_REPLY_MAX 4096

/* Runs one command (a line without its newline). reply receives "ok ..." or "error ..." without a newline.
 * Returns 0, or the error (CLEAVE_EINVAL for a bad command). */
int link_command(link_relay *r, const char *line, char *reply, size_t cap);
/* Checks a command as link_command would, running nothing (trace files are loaded once to check them). */
int link_command_check(link_relay *r, const char *line, char *err, size_t cap);
/* Applies a preset by name. Returns 0 or CLEAVE_EINVAL (unknown name, listed in err). */
int link_preset(link_relay *r, const char *name, char *err, size_t cap);

typedef struct link_control link_control;

/* Control for r: a line-protocol listener at addr when addr is not NULL (a loopback address only: the port has
 * no authentication), and a schedule, empty until steps are added. Returns 0, CLEAVE_EINVAL, CLEAVE_ENOMEM or
 * CLEAVE_EIO (bind or listen failed), the reason in err; on error what was opened closes on the loop. */
int link_control_new(link_relay *r, const struct sockaddr_storage *addr, link_control **out, char *err, size_t cap);
/* The bound control address (zeroed when there is no port). */
void link_control_addr(const link_control *c, struct sockaddr_storage *out);
/* Adds a step "T COMMAND" ("at T: COMMAND" too; T in seconds from link_control_start). where names the source in
 * messages ("FILE:LINE", "--at"). Returns 0, CLEAVE_EINVAL or CLEAVE_ELIMIT (10000 steps). */
int link_control_add_step(link_control *c, const char *spec, const char *where, char *err, size_t cap);
/* Adds the steps of a file, one a line; blank lines and lines starting with '#' are skipped. */
int link_control_load_schedule(link_control *c, const char *path, char *err, size_t cap);
/* Starts the schedule's clock: steps at 0 run now. */
void link_control_start(link_control *c);
/* Closes the port, its connections and the schedule; cb(arg) runs when all is closed, after c is freed. */
void link_control_close(link_control *c, void (*cb)(void *arg), void *arg);

#endif
