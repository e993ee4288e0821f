# vspc-proxy --config FILE / --check-config (tests/scenario/config.sh):
# checks good and bad INI files, then starts a proxy from one. Ports
# 25800-25899.
add_test(NAME config_file
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/config.sh $<TARGET_FILE:vspc-proxy>
          ${CMAKE_CURRENT_BINARY_DIR}/config_file.d
          ${CMAKE_SOURCE_DIR}/deploy/vspc-proxy.ini)
set_tests_properties(config_file PROPERTIES TIMEOUT 60 LABELS scenario)
