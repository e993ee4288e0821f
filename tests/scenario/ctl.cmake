# vspcctl against the real proxy (included by tests/scenario/CMakeLists.txt).
# Ports 26110 (hypervisors), 26111 (operators), 26112 (HTTP).
add_test(NAME scenario_vspcctl
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/vspcctl.sh
          $<TARGET_FILE:vspcctl> $<TARGET_FILE:vspc-proxy>
          $<TARGET_FILE:vspc-hvsim> ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh
          26110)
set_tests_properties(scenario_vspcctl PROPERTIES TIMEOUT 60
  LABELS scenario)
