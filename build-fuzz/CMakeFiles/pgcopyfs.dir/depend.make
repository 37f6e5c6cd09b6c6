# Empty dependencies file for pgcopyfs.
# This may be replaced when dependencies are built.
