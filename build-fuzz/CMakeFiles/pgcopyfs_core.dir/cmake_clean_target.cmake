file(REMOVE_RECURSE
  "libpgcopyfs_core.a"
)
