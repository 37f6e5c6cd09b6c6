file(REMOVE_RECURSE
  "CMakeFiles/fuzz_regress.dir/fuzz_scan.c.o"
  "CMakeFiles/fuzz_regress.dir/fuzz_scan.c.o.d"
  "CMakeFiles/fuzz_regress.dir/regress.c.o"
  "CMakeFiles/fuzz_regress.dir/regress.c.o.d"
  "fuzz_regress"
  "fuzz_regress.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_regress.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
