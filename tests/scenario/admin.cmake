# Administration scenarios against the real proxy (included by
# tests/scenario/CMakeLists.txt). Ports 25500 (hypervisors), 25501
# (operators), 25502 (HTTP).

# 201: drain and undrain from the operator port (DESIGN.md "Drain").
add_test(NAME admin_drain
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/with-proxy.sh
          $<TARGET_FILE:vspc-proxy> 25500 --
          $<TARGET_FILE:vspc-hvsim> scenario 201
          --proxy 127.0.0.1:25500 --operator 127.0.0.1:25501)
set_tests_properties(admin_drain PROPERTIES TIMEOUT 60
  LABELS "scenario;admin")
