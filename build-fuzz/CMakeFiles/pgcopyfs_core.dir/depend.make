# Empty dependencies file for pgcopyfs_core.
# This may be replaced when dependencies are built.
