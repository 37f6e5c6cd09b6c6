file(REMOVE_RECURSE
  "CMakeFiles/test_fields.dir/test_fields.c.o"
  "CMakeFiles/test_fields.dir/test_fields.c.o.d"
  "test_fields"
  "test_fields.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_fields.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
