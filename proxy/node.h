/*
 * node.h: node_*, this node's life cycle as its administrators and load
 * balancers see it: draining for an upgrade, and whether it is ready for
 * new connections (/readyz). (Joining the cluster comes here too.)
 *
 * Ownership: the state lives in struct proxy (px->draining); this module
 * owns no memory. Loop thread only.
 */
#ifndef VSPC_NODE_H
#define VSPC_NODE_H

#include "vspc/compat.h"

#include "proxy.h"

/*
 * Drain (DESIGN.md "Drain"), set from the operator port: while px->draining
 * every new BEGIN gets NOTNOW (vMotions into this node are refused; on one
 * node the source and the destination are both here), vMotions already
 * pending finish normally, and new hypervisor connections are still
 * accepted (refusing them on a single node would lose the consoles of VMs
 * that reconnect; a cluster's load balancer uses /readyz instead). Every
 * console gets the event "node draining" (log marker, in-band notice to its
 * operators), or "node no longer draining". Returns false if px was
 * already in that state (nothing done).
 */
bool node_set_draining(struct proxy *px, bool on, const char *by,
                       double close_after);
/* With close_after > 0 (seconds), when that time is up the consoles whose
 * hypervisors are still connected here are let go (their hosts reconnect,
 * through the load balancer, to another node, which claims them); counted
 * in px->stats.drain_closed. undrain first cancels it. In a cluster a
 * draining node accepts BEGIN (its VMs may move away to other nodes). */

/* The HAProxy agent-check word for this node: "ready", "drain" (draining:
 * no new connections, the current ones stay), "maint" (not listening). */
const char *node_agent_word(const struct proxy *px);
/* --agent-listen: a TCP port answering each connection with
 * node_agent_word and a newline, then closing (HAProxy `agent-check`). */
struct evconnlistener *node_agent_listen(struct proxy *px, const char *addr);
/*
 * Ready for new hypervisor connections? NULL when ready, else the reason
 * (/readyz answers 503 with it): "draining" or "not listening".
 */
const char *node_not_ready(const struct proxy *px);

#endif /* VSPC_NODE_H */
