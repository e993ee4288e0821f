# vspcctl against the real proxy (included by tests/scenario/CMakeLists.txt).
# Ports 26110 (hypervisors), 26111 (operators), 26112 (HTTP).
add_test(NAME scenario_vspcctl
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/vspcctl.sh
          $<TARGET_FILE:vspcctl> $<TARGET_FILE:vspc-proxy>
          $<TARGET_FILE:vspc-hvsim> ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh
          26110)
set_tests_properties(scenario_vspcctl PROPERTIES TIMEOUT 60
  LABELS scenario)

# vspcctl console in a pseudo-terminal (python3's pty module).
# Ports 26120 (hypervisors), 26121 (operators), 26122 (HTTP).
add_test(NAME scenario_vspcctl_pty
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh
          $<TARGET_FILE:vspc-proxy> 26120 --
          python3 ${CMAKE_CURRENT_LIST_DIR}/vspcctl_pty.py
          $<TARGET_FILE:vspcctl> $<TARGET_FILE:vspc-hvsim>)
set_tests_properties(scenario_vspcctl_pty PROPERTIES TIMEOUT 60
  LABELS scenario)

# vspcctl passwd: a users-file line from a password on stdin (no daemon).
add_test(NAME ctl_passwd
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/ctl_passwd.sh $<TARGET_FILE:vspcctl>)
set_tests_properties(ctl_passwd PROPERTIES TIMEOUT 60 LABELS scenario)

# vspcctl logging in: passwords, tls://, a client certificate, HTTP Basic.
# Ports 26500 (hypervisors), 26501 (operators), 26502 (HTTP), 26503
# (operators over TLS), 26519 (a listener on a non-loopback address).
add_test(NAME ctl_auth
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ctl_auth.sh
          $<TARGET_FILE:vspcctl> $<TARGET_FILE:vspc-proxy>
          $<TARGET_FILE:vspc-hvsim> ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh
          26500)
set_tests_properties(ctl_auth PROPERTIES TIMEOUT 90 LABELS scenario)

# vspcctl administers: who (operator port, HTTP, rights), ^Ecl reaching a
# fake hypervisor as IAC BRK, HTTP name/prefix resolution (409 when
# ambiguous), console --excl/--raw/-e, --json outputs, drain/undrain, and
# transports named but unusable or unreachable (exit 1).
# Ports 26700 (hypervisors), 26701 (operators), 26702 (HTTP).
add_test(NAME ctl_admin
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/ctl_admin.py
          ${CMAKE_BINARY_DIR} 26700)
set_tests_properties(ctl_admin PROPERTIES TIMEOUT 120 LABELS scenario)
