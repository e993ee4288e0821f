# The hypervisor-side edges (included by tests/scenario/CMakeLists.txt):
# telnets:// (PROTOCOL.md section 10 scenarios 53 and 54), the PROXY
# protocol and the source allow-list (vspc-hvsim scenarios 301-304,
# tests/hvsim/scen_edge.h). Test k listens on 24000 + 10*k (hypervisors),
# +1 (operators), +2 (HTTP), +3 (telnets://). TLS tests get a throwaway
# certificate from with-cert.sh in ${CMAKE_CURRENT_BINARY_DIR}/<name>.cert.
#
# Number | name | proxy options, comma-separated | "tls" or ""
set(VSPC_EDGE_SCENARIOS
  "53|scenario_53_telnets||tls"
  "54|scenario_54_telnets_buffered||tls"
  "301|edge_pp_v1|--proxy-protocol,--allow,0.0.0.0/0,--allow,::/0|"
  "302|edge_pp_v2|--proxy-protocol,--allow,0.0.0.0/0,--allow,::/0|"
  "303|edge_allow|--allow,127.0.0.2/32,--allow,2001:db8::/32|"
  "304|edge_pp_tls|--proxy-protocol,--allow,127.0.0.0/8,--allow,192.0.2.0/24|tls"
  "305|edge_takeover|--proxy-protocol,--allow,127.0.0.0/8,--allow,192.0.2.0/24|"
  "306|edge_takeover_refuse|--proxy-protocol,--allow,127.0.0.0/8,--allow,192.0.2.0/24,--takeover,refuse|"
)
set(k 0)
foreach(entry ${VSPC_EDGE_SCENARIOS})
  string(REPLACE "|" ";" fields "${entry}")
  list(GET fields 0 num)
  list(GET fields 1 tname)
  list(GET fields 2 popts)
  list(GET fields 3 flags)
  string(REPLACE "," ";" popts "${popts}")
  math(EXPR vmport "24000 + 10 * ${k}")
  math(EXPR opport "${vmport} + 1")
  math(EXPR tlsport "${vmport} + 3")
  math(EXPR k "${k} + 1")
  set(scen_cmd $<TARGET_FILE:vspc-hvsim> scenario ${num}
      --proxy 127.0.0.1:${vmport} --operator 127.0.0.1:${opport})
  set(prefix "")
  if(flags STREQUAL "tls")
    set(cdir ${CMAKE_CURRENT_BINARY_DIR}/${tname}.cert)
    list(APPEND popts --tls-cert ${cdir}/cert.pem --tls-key ${cdir}/key.pem
         --tls-listen 127.0.0.1:${tlsport})
    list(APPEND scen_cmd --tls 127.0.0.1:${tlsport}
         --tls-cert ${cdir}/cert.pem)
    set(prefix bash ${CMAKE_CURRENT_SOURCE_DIR}/with-cert.sh ${cdir} --)
  endif()
  add_test(NAME ${tname}
    COMMAND ${prefix} bash ${VSPC_WITH_PROXY} $<TARGET_FILE:vspc-proxy>
            ${vmport} ${popts} -- ${scen_cmd})
  set_tests_properties(${tname} PROPERTIES TIMEOUT 60 LABELS "scenario;edge"
    SKIP_RETURN_CODE 77)
endforeach()

# A node's caps (tests/scenario/caps.py): ports 25731-25737; --max-consoles
# (refused, then an idle one let go early), --max-operators, the operator
# idle timeout at the prompt, and running out of descriptors (the listener
# pauses: little CPU, bounded log lines, recovery).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME caps
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/caps.py
            ${CMAKE_BINARY_DIR} 25730)
  set_tests_properties(caps PROPERTIES TIMEOUT 120 LABELS "scenario;edge")
endif()

# Least privilege (tests/scenario/privdrop.sh): ports 25740-25748; both
# daemons started as root with --user nobody run as nobody once bound and
# still serve. Skipped (77) when not root.
add_test(NAME privdrop
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/privdrop.sh ${CMAKE_BINARY_DIR})
set_tests_properties(privdrop PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
  LABELS "scenario;edge")

# The systemd units' sandbox (tests/scenario/units.sh): systemd-analyze
# security --offline rates both at or below the exposure deploy/ states.
add_test(NAME units
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/units.sh)
set_tests_properties(units PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
  LABELS "scenario")

# The HTTP API behind a bearer token (tests/scenario/http_token.sh): ports
# 25770-25772; 401 without it on every path but the probes, vspcctl
# --token-file / $VSPC_TOKEN_FILE.
add_test(NAME http_token
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/http_token.sh ${CMAKE_BINARY_DIR})
set_tests_properties(http_token PROPERTIES TIMEOUT 60 LABELS "scenario;edge")

# Logs for journald (tests/scenario/journal.sh): ports 25775-25779.
add_test(NAME journal
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/journal.sh ${CMAKE_BINARY_DIR})
set_tests_properties(journal PROPERTIES TIMEOUT 60 LABELS "scenario")

# Operator logins and per-console ACLs (tests/scenario/op_auth.py): ports
# 25900-25912; a coordinator and two nodes with --users and --acl: client
# certificates (good, expired, another CA), passwords (PBKDF2, scrypt),
# wrong ones alike, the brute-force limit, option 233, rights on attach,
# force write, list, drain, across nodes.
if(Python3_Interpreter_FOUND)
  add_test(NAME op_auth
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/op_auth.py
            ${CMAKE_BINARY_DIR} 25900)
  set_tests_properties(op_auth PROPERTIES TIMEOUT 120 LABELS "scenario;edge")
endif()

# SIGHUP reloads without dropping anything (tests/scenario/reload.py): ports
# 25950-25955; one node on -c FILE: reloadable options applied, the others
# reported and kept, a new telnets:// certificate, nothing disconnected; a
# file with an error changes nothing.
if(Python3_Interpreter_FOUND)
  add_test(NAME reload
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/reload.py
            ${CMAKE_BINARY_DIR} 25950)
  set_tests_properties(reload PROPERTIES TIMEOUT 90 LABELS "scenario;ops")
endif()
