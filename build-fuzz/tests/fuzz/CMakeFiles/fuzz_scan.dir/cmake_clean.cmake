file(REMOVE_RECURSE
  "CMakeFiles/fuzz_scan.dir/__/__/fs/fields.c.o"
  "CMakeFiles/fuzz_scan.dir/__/__/fs/fields.c.o.d"
  "CMakeFiles/fuzz_scan.dir/__/__/fs/names.c.o"
  "CMakeFiles/fuzz_scan.dir/__/__/fs/names.c.o.d"
  "CMakeFiles/fuzz_scan.dir/__/__/fs/scan.c.o"
  "CMakeFiles/fuzz_scan.dir/__/__/fs/scan.c.o.d"
  "CMakeFiles/fuzz_scan.dir/fuzz_scan.c.o"
  "CMakeFiles/fuzz_scan.dir/fuzz_scan.c.o.d"
  "fuzz_scan"
  "fuzz_scan.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_scan.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
