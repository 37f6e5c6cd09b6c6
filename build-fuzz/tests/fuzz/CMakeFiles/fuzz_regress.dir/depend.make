# Empty dependencies file for fuzz_regress.
# This may be replaced when dependencies are built.
