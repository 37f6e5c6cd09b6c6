# Empty dependencies file for fuzz_scan.
# This may be replaced when dependencies are built.
