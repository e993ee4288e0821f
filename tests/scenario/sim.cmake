# vspc-hvsim `run` tests against the real proxy (included by
# tests/scenario/CMakeLists.txt). Each test owns ports BASE (hypervisors)
# and BASE+1 (operators) in 21100-21199. Every run verifies every byte in
# both directions (VM output at the operator, operator input at the VM) and
# fails on any error; see tests/hvsim/sim.h. Total run time about 15 s.

set(VSPC_SIM_WITH_PROXY ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh)

# vspc_sim_test(NAME BASE [PROXY opts...] -- hvsim run opts...)
function(vspc_sim_test name base)
  set(popts "")
  set(sopts "")
  set(in_sim OFF)
  foreach(a ${ARGN})
    if(a STREQUAL "--")
      set(in_sim ON)
    elseif(in_sim)
      list(APPEND sopts ${a})
    else()
      list(APPEND popts ${a})
    endif()
  endforeach()
  math(EXPR opport "${base} + 1")
  add_test(NAME ${name}
    COMMAND bash ${VSPC_SIM_WITH_PROXY}
            $<TARGET_FILE:vspc-proxy> ${base} ${popts} --
            $<TARGET_FILE:vspc-hvsim> run --proxy 127.0.0.1:${base}
            --operator 127.0.0.1:${opport} ${sopts})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS scenario)
endfunction()

# One console, 100 vMotions in a row while the VM streams and an operator
# types; the capture's order (source FIN before COMPLETE).
vspc_sim_test(vmotion_100 21100 --
  --rate 20000 --operator-rate 5000 --vmotions 100 --vmotion-interval 30)

# 20 aborted vMotions: ABORT 50 ms after GOAHEAD, input held meanwhile and
# flushed to the source afterwards.
vspc_sim_test(vmotion_abort_20 21110 --
  --rate 20000 --operator-rate 5000 --vmotions 20 --vmotion-mode abort
  --abort-delay 50 --vmotion-interval 30)

# 50 consoles flat out (backpressure both ways), 3 vMotions each.
vspc_sim_test(vmotion_multi_50 21120 --
  --consoles 50 --rate 0 --operator-rate 2000 --vmotions 3
  --vmotion-interval 200)

# The other host behaviours: 200-byte sequences, COMPLETE before the source
# FIN, KNOWN-SUBOPTIONS-1 first, a ?port= label, ok and abort mixed.
vspc_sim_test(vmotion_variants 21130 --
  --consoles 4 --rate 5000 --operator-rate 3000 --vmotions 12
  --vmotion-interval 20 --seq-len 200 --complete-first --early-known1
  --port-label com2 --vmotion-mode mixed)

# 1-byte sequences (every third one is 0xFF).
vspc_sim_test(vmotion_seq1 21140 --
  --rate 10000 --operator-rate 3000 --vmotions 30 --vmotion-interval 20
  --seq-len 1)

# A proxy in maintenance: NOTNOW(seq) every time; streams continue intact.
vspc_sim_test(vmotion_notnow 21150 --refuse-vmotion --
  --rate 10000 --operator-rate 3000 --vmotions 3 --vmotion-interval 20
  --max-notnow 5 --notnow-ok)

# Scale: 2000 consoles with operators, one vMotion each.
vspc_sim_test(hvsim_scale_2000 21160 --log-level warn --
  --consoles 2000 --rate 200 --operator-rate 50 --vmotions 1
  --vmotion-interval 500)

# Connect-only: 3000 consoles and operators identify, then idle 1 s.
vspc_sim_test(hvsim_connect_only 21170 --log-level warn --
  --consoles 3000 --connect-only --duration 1)

# Realistic gaps: destination dials 300 ms after GOAHEAD (the capture shows
# about 1 s), the source FIN 50 ms ahead of COMPLETE (PROTOCOL.md 6.1: the
# race that deletes vmware/vspc's port); operators type all along.
vspc_sim_test(vmotion_slow_peer 21180 --
  --consoles 3 --rate 5000 --operator-rate 3000 --vmotions 6
  --vmotion-interval 50 --peer-delay 300 --fin-lead 50)
