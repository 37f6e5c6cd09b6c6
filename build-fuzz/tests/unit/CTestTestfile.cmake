# CMake generated Testfile for 
# Source directory: /work/main/tests/unit
# Build directory: /work/main/build-fuzz/tests/unit
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(unit_scan "/work/main/build-fuzz/tests/unit/test_scan")
set_tests_properties(unit_scan PROPERTIES  LABELS "unit" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/unit/CMakeLists.txt;8;add_test;/work/main/tests/unit/CMakeLists.txt;0;")
add_test(unit_fields "/work/main/build-fuzz/tests/unit/test_fields")
set_tests_properties(unit_fields PROPERTIES  LABELS "unit" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/unit/CMakeLists.txt;8;add_test;/work/main/tests/unit/CMakeLists.txt;0;")
add_test(unit_names "/work/main/build-fuzz/tests/unit/test_names")
set_tests_properties(unit_names PROPERTIES  LABELS "unit" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/unit/CMakeLists.txt;8;add_test;/work/main/tests/unit/CMakeLists.txt;0;")
add_test(unit_options "/work/main/build-fuzz/tests/unit/test_options")
set_tests_properties(unit_options PROPERTIES  LABELS "unit" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/unit/CMakeLists.txt;17;add_test;/work/main/tests/unit/CMakeLists.txt;0;")
