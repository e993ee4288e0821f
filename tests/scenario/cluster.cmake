# The cluster directory end to end (tests/scenario/cluster_dir.py): a
# coordinator and three nodes on 127.0.0.1 ports 24200-24219; every node
# lists every console with its owner, the coordinator stopped and
# restarted, stale-epoch fencing.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME cluster_directory
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_dir.py
            ${CMAKE_BINARY_DIR} 24200)
  set_tests_properties(cluster_directory PROPERTIES TIMEOUT 120
    LABELS "scenario;cluster")
endif()

# Operators on any node (tests/scenario/cluster_attach.py): ports
# 24400-24415; every node to every console byte-exact, scrollback, locks
# across nodes, a stalled remote reader, the coordinator away, malformed
# peer frames.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME cluster_attach
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_attach.py
            ${CMAKE_BINARY_DIR} 24400)
  set_tests_properties(cluster_attach PROPERTIES TIMEOUT 240
    LABELS "scenario;cluster")
endif()

# vMotion across nodes (tests/scenario/cluster_vmotion.py): ports
# 24800-24815; one console bounced n1 -> n2 -> n3 ... 200 times with
# operators on two nodes, every byte checked both ways (each operator's
# input separately) and the console's log on a third node gapless; the
# PROTOCOL.md section 10 host behaviours with the destination on another
# node; 20 bounces with the coordinator stopped.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME cluster_vmotion
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_vmotion.py
            ${CMAKE_BINARY_DIR} 24800)
  set_tests_properties(cluster_vmotion PROPERTIES TIMEOUT 300
    LABELS "scenario;cluster;coord")
endif()

# PROTOCOL.md section 10 scenarios 49 and 50 on two nodes of a cluster
# (tests/scenario/cluster_scen.py: a coordinator, n1 = node A, n2 = node B,
# then vspc-hvsim scenario N --peer-proxy/--operator2 [--owner-pid]):
# scenario 49 on ports 25000-25011, scenario 50 on 25020-25031.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  foreach(entry "49|cluster_peer_other_node|25000"
                "50|cluster_owner_crash|25020")
    string(REPLACE "|" ";" fields "${entry}")
    list(GET fields 0 num)
    list(GET fields 1 short)
    list(GET fields 2 base)
    add_test(NAME scenario_${num}_${short}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_scen.py
              ${CMAKE_BINARY_DIR} ${base} ${num})
    set_tests_properties(scenario_${num}_${short} PROPERTIES TIMEOUT 60
      LABELS "scenario;cluster;coord")
  endforeach()
  # Every vMotion scenario (26-47, 51) with the destination hosts on the
  # node that does not own the console, against one two-node cluster on
  # ports 25040-25051.
  add_test(NAME scenario_vmotion_cluster
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_scen.py
            ${CMAKE_BINARY_DIR} 25040 vmotion)
  set_tests_properties(scenario_vmotion_cluster PROPERTIES TIMEOUT 400
    LABELS "scenario;cluster;coord")
endif()

# Migration at full throughput (tests/scenario/cluster_flat.py): ports
# 24860-24875; one console flat out, operators on two nodes typing, a
# vMotion across nodes every 100 ms: every byte both ways, no operator
# following before it read the rest, no hold for followers timing out.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME cluster_migrate_flat
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_flat.py
            ${CMAKE_BINARY_DIR} 24860)
  set_tests_properties(cluster_migrate_flat PROPERTIES TIMEOUT 180
    LABELS "scenario;cluster;coord")
endif()

# The coordinator pair under faults (tests/scenario/coord_ha.py): ports
# 25100-25124; the HA link cut (no failover without a node's vote, no
# console listed twice), then the active killed with SIGKILL during a
# vMotion storm across three nodes (no vMotion fails, every byte both
# ways, every node on the backup within a bound).
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME coord_ha
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/coord_ha.py
            ${CMAKE_BINARY_DIR} 25100)
  set_tests_properties(coord_ha PROPERTIES TIMEOUT 240
    LABELS "scenario;cluster;coord")
endif()

# Draining a node as a load balancer sees it (tests/scenario/node_drain.py):
# ports 25160-25173; the agent-check port (ready, drain, ready),
# `vspcctl drain NODE --close-after 1` (refused for another node), the
# hypervisors let go after the grace, `vspcctl undrain`.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME node_drain
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/node_drain.py
            ${CMAKE_BINARY_DIR} 25160)
  set_tests_properties(node_drain PROPERTIES TIMEOUT 120
    LABELS "scenario;cluster")
endif()

# The HA recipe end to end (tests/scenario/ha_lb.py): deploy/ha/up.sh
# brings up a coordinator pair, three nodes and HAProxy on ports
# 25200-25604; 100 hosts dial HAProxy (PROXY v2), the node holding a third
# of them is killed with SIGKILL: every console reclaimed on the survivors
# through the balancer within a bound, operators on survivors keep their
# sessions. Skipped (77) without haproxy.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME ha_lb
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ha_lb.py
            ${CMAKE_BINARY_DIR} 25200)
  set_tests_properties(ha_lb PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
    LABELS "scenario;cluster;coord")
endif()

# The etcd ownership store under faults (tests/scenario/etcd_ha.py): ports
# 25620-25649; three etcd members, three nodes with --etcd; a member
# killed with SIGKILL (restarted 3 s later), then the member in use stopped
# with SIGSTOP for 5 s, each during a vMotion storm across the nodes: no
# vMotion fails, every byte both ways, every node in sync on another member
# within a bound, every console listed once alike and as etcd holds it.
# Skipped (77) without etcd.
if(Python3_Interpreter_FOUND)
  add_test(NAME etcd_ha
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/etcd_ha.py
            ${CMAKE_BINARY_DIR} 25620)
  set_tests_properties(etcd_ha PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
    LABELS "scenario;cluster")
endif()

# The same with the directory in etcd (rolling.py ... etcd): ports
# 25660-25684 and 25700-25705; every node and every etcd member restarted
# in turn. Skipped (77) without etcd.
if(Python3_Interpreter_FOUND)
  add_test(NAME rolling_restart_etcd
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/rolling.py
            ${CMAKE_BINARY_DIR} 25660 etcd)
  set_tests_properties(rolling_restart_etcd PROPERTIES TIMEOUT 240
    SKIP_RETURN_CODE 77 LABELS "scenario;cluster")
endif()

# The same with the directory in etcd (ha_lb.py ... etcd): ports
# 26400-26804 (etcd 26430-26435). Skipped (77) without haproxy or etcd.
if(Python3_Interpreter_FOUND)
  add_test(NAME ha_lb_etcd
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/ha_lb.py
            ${CMAKE_BINARY_DIR} 26400 etcd)
  set_tests_properties(ha_lb_etcd PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
    LABELS "scenario;cluster")
endif()

# What dies with a node is counted exactly (tests/scenario/cluster_lost.py):
# ports 25710-25721; an operator through n2 stalls on a console n1 streams
# flat out, n1 is killed: the notice and vspc_peer_output_lost_bytes_total
# name exactly what n1 had taken from the VM and not sent (R + N = W).
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME cluster_lost
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cluster_lost.py
            ${CMAKE_BINARY_DIR} 25710)
  set_tests_properties(cluster_lost PROPERTIES TIMEOUT 120
    LABELS "scenario;cluster;coord")
endif()

# CURVE between nodes and the coordinator (tests/scenario/coord_curve.py):
# ports 25750-25765; keys from vspcctl keygen; a listed node registers, an
# unlisted key is refused by the ZAP handler (logged), a plain node too.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME coord_curve
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/coord_curve.py
            ${CMAKE_BINARY_DIR} 25750)
  set_tests_properties(coord_curve PROPERTIES TIMEOUT 60
    LABELS "scenario;cluster;coord")
endif()

# The HA recipe's virtual-IP variant (tests/scenario/ha_vip.sh):
# deploy/ha/up-vip.sh in network namespaces it makes (two balancer hosts
# with HAProxy and keepalived, a coordinator pair, three nodes); 30 hosts
# dial the VIP; HAProxy on the VIP's holder killed: the VIP moves, every
# host's redial is reclaimed through the other balancer. Skipped (77)
# without root, namespaces, haproxy or keepalived.
if(TARGET vspc-coordinator)
  add_test(NAME ha_vip
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ha_vip.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(ha_vip PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
    LABELS "scenario;cluster;coord")
endif()

# Two active coordinators, and how they end (tests/scenario/coord_dual.py):
# ports 25240-25264; the pair's HA link cut, a node voting on each side;
# healed: the lower term yields, every node agrees, no epoch goes back.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME coord_dual_active
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/coord_dual.py
            ${CMAKE_BINARY_DIR} 25240)
  set_tests_properties(coord_dual_active PROPERTIES TIMEOUT 120
    LABELS "scenario;cluster;coord")
endif()

# A rolling restart of every node and both coordinators in turn
# (tests/scenario/rolling.py): ports 25280-25304; hosts redial their node
# (--reconnect) and are claimed again with a higher epoch; operators
# through the nodes that stay up keep their sessions; every node ends
# registered and in sync.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME rolling_restart
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/rolling.py
            ${CMAKE_BINARY_DIR} 25280)
  set_tests_properties(rolling_restart PROPERTIES TIMEOUT 240
    LABELS "scenario;cluster;coord")
endif()

# The peer link in TLS with a cluster CA (tests/scenario/peer_tls.py):
# ports 26200-26219; certificates from openssl(1); two nodes with
# --peer-tls-* byte-exact both ways and across vMotions, a node of a rogue
# CA and one whose certificate's CN is another node's refused (logged, no
# link, their operators told), clients without or with a wrong
# certificate refused. Skipped (77) without openssl.
if(Python3_Interpreter_FOUND AND TARGET vspc-coordinator)
  add_test(NAME peer_tls
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/peer_tls.py
            ${CMAKE_BINARY_DIR} 26200)
  set_tests_properties(peer_tls PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
    LABELS "scenario;cluster;coord")
endif()

# ^Ecl on a console another node holds (tests/scenario/remote_break.py):
# ports 25970-25981; the break travels the peer link after the bytes typed
# before it; a spectator's is refused by the owner.
if(Python3_Interpreter_FOUND)
  add_test(NAME remote_break
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/remote_break.py
            ${CMAKE_BINARY_DIR} 25970)
  set_tests_properties(remote_break PROPERTIES TIMEOUT 90
    LABELS "scenario;cluster")
endif()
