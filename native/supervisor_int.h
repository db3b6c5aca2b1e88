/*
 * What the two halves of vimage-supervisor share: supervisor.c (session,
 * filter, child, main loop) and supervisor_calls.c (the trapped calls).
 */
#ifndef VIMAGE_SUPERVISOR_INT_H
#define VIMAGE_SUPERVISOR_INT_H

#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "supervisor.h"

#define MAX_PENDING 1024

/* The control socket's address, for the backing sockets' data connections. */
extern struct sockaddr_un ctl_addr;
extern socklen_t ctl_len;
/* The seccomp listener and the agent session (-1 once the daemon is gone). */
extern int notify_fd;
extern int agent_fd;
/* The session key, in hex, for data connections. */
extern char key_hex[33];
/* Ids of image sockets and sequence numbers of requests, both chosen here. */
extern uint32_t next_id;
extern uint32_t next_seq;
/* Agent bytes read but not yet a whole reply. */
extern unsigned char rbuf[4096];
extern size_t rlen;

/* Serve one notification. */
void handle(struct seccomp_notif *n);
/* Tell the daemon about requests whose caller went away. */
void sweep(void);
/* Read and dispatch the daemon's replies. */
void agent_read(void);
int write_all(int fd, const void *buf, size_t len);

#endif
