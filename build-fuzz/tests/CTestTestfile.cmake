# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build-fuzz/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(it_close_rule "bash" "/work/main/tests/it/close_rule.sh")
set_tests_properties(it_close_rule PROPERTIES  ENVIRONMENT "PGCOPYFS_BIN=/work/main/build-fuzz/pgcopyfs" LABELS "integration" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;14;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(it_concurrency "bash" "/work/main/tests/it/concurrency.sh")
set_tests_properties(it_concurrency PROPERTIES  ENVIRONMENT "PGCOPYFS_BIN=/work/main/build-fuzz/pgcopyfs" LABELS "integration" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;14;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(it_core_load "bash" "/work/main/tests/it/core_load.sh")
set_tests_properties(it_core_load PROPERTIES  ENVIRONMENT "PGCOPYFS_BIN=/work/main/build-fuzz/pgcopyfs" LABELS "integration" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;14;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(it_tree "bash" "/work/main/tests/it/tree.sh")
set_tests_properties(it_tree PROPERTIES  ENVIRONMENT "PGCOPYFS_BIN=/work/main/build-fuzz/pgcopyfs" LABELS "integration" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;14;add_test;/work/main/tests/CMakeLists.txt;0;")
subdirs("unit")
subdirs("fuzz")
