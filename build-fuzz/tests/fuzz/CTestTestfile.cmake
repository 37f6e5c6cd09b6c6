# CMake generated Testfile for 
# Source directory: /work/main/tests/fuzz
# Build directory: /work/main/build-fuzz/tests/fuzz
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(fuzz_regress "/work/main/build-fuzz/tests/fuzz/fuzz_regress" "/work/main/tests/fuzz/corpus" "/work/main/tests/fuzz/crashes")
set_tests_properties(fuzz_regress PROPERTIES  LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/fuzz/CMakeLists.txt;8;add_test;/work/main/tests/fuzz/CMakeLists.txt;0;")
