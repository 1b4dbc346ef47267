/* tests: child processes (the real cleave-gateway and cleave-link binaries) with their first line of output read
 * under a deadline, signals, a bounded wait, and cleave-link's control port. Header-only. */
#ifndef CLEAVE_TESTS_PROC_KIT_H
#define CLEAVE_TESTS_PROC_KIT_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct pk_proc {
  pid_t pid;
  int out; /* the child's stdout, read end */
} pk_proc;

static inline double pk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Starts argv[0] with argv; its stderr goes to log (appended). 0 or -1. */
static inline int pk_spawn(pk_proc *p, char *const argv[], const char *log) {
  int fds[2];
  p->pid = -1;
  p->out = -1;
  if (pipe(fds)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc) {
    close(fds[0]);
    p->pid = -1;
    return -1;
  }
  p->out = fds[0];
  return 0;
}

/* Reads one line of the child's stdout into buf within ms. 0, or -1 on timeout or end of output. */
static inline int pk_read_line(pk_proc *p, char *buf, size_t n, int ms) {
  size_t k = 0;
  double end = pk_now_ms() + ms;
  while (k + 1 < n) {
    struct pollfd pf = {.fd = p->out, .events = POLLIN};
    int left = (int)(end - pk_now_ms());
    if (left <= 0 || poll(&pf, 1, left) <= 0) return -1;
    char c;
    if (read(p->out, &c, 1) != 1) return -1;
    if (c == '\n') break;
    buf[k++] = c;
  }
  buf[k] = 0;
  return 0;
}

static inline void pk_signal(pk_proc *p, int sig) {
  if (p->pid > 0) kill(p->pid, sig);
}

/* Waits up to ms for the child to exit, then kills it; returns its exit status (or -1). */
static inline int pk_wait(pk_proc *p, int ms) {
  if (p->pid <= 0) return -1;
  int st = 0;
  double end = pk_now_ms() + ms;
  pid_t r;
  while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 && pk_now_ms() < end)
    usleep(10000);
  if (r == 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
  }
  p->pid = -1;
  if (p->out >= 0) close(p->out);
  p->out = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Sends one command line to a control port on 127.0.0.1 and reads the one-line answer within ms. 0 when it
 * begins with "ok", else -1 (the answer is in reply either way). */
static inline int pk_control(int port, const char *cmd, char *reply, size_t n, int ms) {
  reply[0] = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  char line[512];
  int len = snprintf(line, sizeof line, "%s\n", cmd);
  pk_proc tmp = {.pid = 0, .out = fd};
  int rc = write(fd, line, (size_t)len) == len ? pk_read_line(&tmp, reply, n, ms) : -1;
  close(fd);
  return rc == 0 && strncmp(reply, "ok", 2) == 0 ? 0 : -1;
}

/* ---- a gateway behind the link emulator ---- */

typedef struct pk_stack {
  pk_proc gw, link;
  int gw_port, link_port, ctl_port;
  char dir[128], log[160];
  bool stopped; /* the gateway was sent SIGSTOP */
} pk_stack;

/* Starts bin_dir's cleave-gateway (backend cpu, a repository of its own holding the models in preload, a
 * NULL-terminated list of .onnx files or NULL, the config lines gw_config added) and cleave-link in front of it
 * (link_args: NULL-terminated extra arguments, or NULL), both on 127.0.0.1. 0 or -1 (the message on stderr). */
static inline int pk_stack_start(pk_stack *s, const char *bin_dir, const char *cert, const char *key,
                                 const char *gw_config, const char *const *link_args, const char *const *preload) {
  memset(s, 0, sizeof *s);
  s->gw.pid = s->link.pid = -1;
  s->gw.out = s->link.out = -1;
  snprintf(s->dir, sizeof s->dir, "/tmp/cleave-stack-XXXXXX");
  if (!mkdtemp(s->dir)) return -1;
  char models[200], config[200], line[256], gw_bin[512], link_bin[512], target[64];
  snprintf(models, sizeof models, "%s/models", s->dir);
  snprintf(config, sizeof config, "%s/gateway.conf", s->dir);
  snprintf(s->log, sizeof s->log, "%s/log", s->dir);
  snprintf(gw_bin, sizeof gw_bin, "%s/cleave-gateway", bin_dir);
  snprintf(link_bin, sizeof link_bin, "%s/cleave-link", bin_dir);
  if (mkdir(models, 0755)) return -1;
  for (int i = 0; preload && preload[i]; i++) { /* DIR/<name>/1/model.onnx, the name the engine gives it */
    const char *b = strrchr(preload[i], '/');
    b = b ? b + 1 : preload[i];
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%.*s/1' && cp '%s' '%s/%.*s/1/model.onnx'", models,
             (int)(strlen(b) - 5), b, preload[i], models, (int)(strlen(b) - 5), b);
    if (strlen(b) <= 5 || system(cmd)) return -1;
  }
  FILE *c = fopen(config, "w");
  if (!c) return -1;
  fprintf(c, "threads = 1\n%s", gw_config ? gw_config : "");
  fclose(c);
  char *gw_argv[] = {gw_bin,  "--config",  config,     "--listen", "127.0.0.1:0", "--cert", (char *)cert,
                     "--key", (char *)key, "--models", models,     "--backend",   "cpu",    NULL};
  if (pk_spawn(&s->gw, gw_argv, s->log) || pk_read_line(&s->gw, line, sizeof line, 30000) ||
      sscanf(line, "listening on 127.0.0.1:%d", &s->gw_port) != 1) {
    fprintf(stderr, "cleave-gateway did not start (see %s)\n", s->log);
    return -1;
  }
  snprintf(target, sizeof target, "127.0.0.1:%d", s->gw_port);
  char *link_argv[32] = {link_bin, "--listen", "127.0.0.1:0", "--target", target, "--control", "127.0.0.1:0"};
  int n = 7;
  for (int i = 0; link_args && link_args[i] && n < 31; i++)
    link_argv[n++] = (char *)link_args[i];
  link_argv[n] = NULL;
  if (pk_spawn(&s->link, link_argv, s->log) || pk_read_line(&s->link, line, sizeof line, 30000) ||
      sscanf(line, "listening 127.0.0.1:%d control 127.0.0.1:%d", &s->link_port, &s->ctl_port) != 2) {
    fprintf(stderr, "cleave-link did not start (see %s)\n", s->log);
    return -1;
  }
  return 0;
}

static inline void pk_stack_stop(pk_stack *s) {
  if (s->stopped) pk_signal(&s->gw, SIGCONT);
  pk_signal(&s->gw, SIGTERM);
  pk_signal(&s->link, SIGTERM);
  pk_wait(&s->gw, 10000);
  pk_wait(&s->link, 10000);
  if (s->dir[0]) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", s->dir);
    s->dir[0] = 0;
  }
}

#endif
