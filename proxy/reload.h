/*
 * reload.h: rld_*, SIGHUP (and `systemctl reload`) without dropping
 * anything.
 *
 * A thread reads everything again, as a start would: the defaults, the
 * -c file, the command line (vspc/opttab.h opt_reload), the cross-option
 * checks, then the files the options name: the telnets:// certificate
 * and key, --users, --acl, --http-token-file. Nothing is applied unless
 * all of it is valid; then, on the loop, each option that changed is
 * applied if its row says OPT_F_RELOAD (config.c) and reported as kept
 * otherwise (listen addresses, the cluster, sizes fixed at start). No
 * hypervisor or operator connection is closed: a new certificate serves
 * new handshakes, new limits and timeouts apply from their next use, new
 * users and rules from the next login or check.
 *
 * Ownership: the state lives in struct proxy (px->rld); one reload at a
 * time; a SIGHUP during one starts another when it ends. rld_fini (at
 * exit) waits for a running thread.
 */
#ifndef VSPC_RELOAD_H
#define VSPC_RELOAD_H

#include "vspc/compat.h"

struct proxy;

void rld_start(struct proxy *px);
void rld_fini(struct proxy *px);
/* Reloads applied and refused so far. */
void rld_counts(const struct proxy *px, uint64_t *ok, uint64_t *failed);

#endif /* VSPC_RELOAD_H */
