
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/fs/fields.c" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/fields.c.o" "gcc" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/fields.c.o.d"
  "/work/main/fs/names.c" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/names.c.o" "gcc" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/names.c.o.d"
  "/work/main/fs/scan.c" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/scan.c.o" "gcc" "tests/fuzz/CMakeFiles/fuzz_scan.dir/__/__/fs/scan.c.o.d"
  "/work/main/tests/fuzz/fuzz_scan.c" "tests/fuzz/CMakeFiles/fuzz_scan.dir/fuzz_scan.c.o" "gcc" "tests/fuzz/CMakeFiles/fuzz_scan.dir/fuzz_scan.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
