file(REMOVE_RECURSE
  "CMakeFiles/pgcopyfs_core.dir/fs/fields.c.o"
  "CMakeFiles/pgcopyfs_core.dir/fs/fields.c.o.d"
  "CMakeFiles/pgcopyfs_core.dir/fs/names.c.o"
  "CMakeFiles/pgcopyfs_core.dir/fs/names.c.o.d"
  "CMakeFiles/pgcopyfs_core.dir/fs/scan.c.o"
  "CMakeFiles/pgcopyfs_core.dir/fs/scan.c.o.d"
  "libpgcopyfs_core.a"
  "libpgcopyfs_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/pgcopyfs_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
