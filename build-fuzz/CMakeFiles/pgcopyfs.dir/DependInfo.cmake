
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/fs/catalog.c" "CMakeFiles/pgcopyfs.dir/fs/catalog.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/catalog.c.o.d"
  "/work/main/fs/closer.c" "CMakeFiles/pgcopyfs.dir/fs/closer.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/closer.c.o.d"
  "/work/main/fs/conn.c" "CMakeFiles/pgcopyfs.dir/fs/conn.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/conn.c.o.d"
  "/work/main/fs/copy.c" "CMakeFiles/pgcopyfs.dir/fs/copy.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/copy.c.o.d"
  "/work/main/fs/fsops.c" "CMakeFiles/pgcopyfs.dir/fs/fsops.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/fsops.c.o.d"
  "/work/main/fs/load.c" "CMakeFiles/pgcopyfs.dir/fs/load.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/load.c.o.d"
  "/work/main/fs/log.c" "CMakeFiles/pgcopyfs.dir/fs/log.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/log.c.o.d"
  "/work/main/fs/main.c" "CMakeFiles/pgcopyfs.dir/fs/main.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/main.c.o.d"
  "/work/main/fs/options.c" "CMakeFiles/pgcopyfs.dir/fs/options.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/options.c.o.d"
  "/work/main/fs/registry.c" "CMakeFiles/pgcopyfs.dir/fs/registry.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/registry.c.o.d"
  "/work/main/fs/status.c" "CMakeFiles/pgcopyfs.dir/fs/status.c.o" "gcc" "CMakeFiles/pgcopyfs.dir/fs/status.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build-fuzz/CMakeFiles/pgcopyfs_core.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
