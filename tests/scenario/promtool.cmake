# The monitoring recipe in deploy/ (tests/scenario/promtool.sh, included by
# tests/scenario/CMakeLists.txt): promtool check rules and test rules on
# deploy/prometheus/vspc-alerts.yml, the Grafana dashboard's JSON, and every
# metric name in either checked against proxy/metrics.c. No ports. Skipped
# (77) without promtool (Debian: prometheus, in deploy/deps.sh --test).
add_test(NAME promtool
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/promtool.sh)
set_tests_properties(promtool PROPERTIES TIMEOUT 60 LABELS "scenario"
  SKIP_RETURN_CODE 77)
