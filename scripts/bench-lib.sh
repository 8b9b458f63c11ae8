# Sourced by the bench-*.sh scripts.

# settle_pages CMD...: puts the page cache in the same state before every measured
# command: dropped where root may, else warmed by CMD (which reads the files the
# measured commands read). Sets PAGES to say which was done, for the output.
settle_pages() {
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    PAGES="dropped before each command"
  else
    PAGES="warm: the files read before each command (could not drop)"
    "$@" > /dev/null
  fi
}
