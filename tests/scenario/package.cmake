# The Debian package (issue 11): tests/scenario/package.sh builds the
# package target, installs build/vspc_<version>_<arch>.deb on this machine,
# runs the installed vspc-proxy from /etc/vspc/vspc-proxy.ini and the
# installed vspcctl against it, and purges it (a trap does even on
# failure). Ports 26600-26603. Skipped (77) when not root or without
# dpkg-dev.
add_test(NAME package
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package.sh ${CMAKE_BINARY_DIR}
          ${PROJECT_VERSION})
set_tests_properties(package PROPERTIES TIMEOUT 300 LABELS scenario
  SKIP_RETURN_CODE 77)
