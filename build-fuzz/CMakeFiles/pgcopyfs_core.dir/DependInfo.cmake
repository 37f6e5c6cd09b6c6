
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/fs/fields.c" "CMakeFiles/pgcopyfs_core.dir/fs/fields.c.o" "gcc" "CMakeFiles/pgcopyfs_core.dir/fs/fields.c.o.d"
  "/work/main/fs/names.c" "CMakeFiles/pgcopyfs_core.dir/fs/names.c.o" "gcc" "CMakeFiles/pgcopyfs_core.dir/fs/names.c.o.d"
  "/work/main/fs/scan.c" "CMakeFiles/pgcopyfs_core.dir/fs/scan.c.o" "gcc" "CMakeFiles/pgcopyfs_core.dir/fs/scan.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
