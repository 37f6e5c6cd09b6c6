file(REMOVE_RECURSE
  "CMakeFiles/pgcopyfs.dir/fs/catalog.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/catalog.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/closer.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/closer.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/conn.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/conn.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/copy.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/copy.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/fsops.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/fsops.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/load.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/load.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/log.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/log.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/main.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/main.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/options.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/options.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/registry.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/registry.c.o.d"
  "CMakeFiles/pgcopyfs.dir/fs/status.c.o"
  "CMakeFiles/pgcopyfs.dir/fs/status.c.o.d"
  "pgcopyfs"
  "pgcopyfs.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/pgcopyfs.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
