#!/usr/bin/env bash
# tests/bare-debian.sh [COMMAND] - runs README's commands on a bare Debian 12.
#
# The two README commands must set up everything themselves on a fresh
# machine, but the machine they are tried on already has what earlier runs
# installed. This builds a minimal Debian 12 (debootstrap --variant=minbase:
# no compiler, no PostgreSQL, no FUSE tools) in a temporary directory, clones
# the committed tree into it and runs, as root inside a chroot,
# examples/quickstart.sh and then tests/run.sh (or only COMMAND, run from
# the clone). Run on purpose: it downloads about 100 MB of packages the
# first time and takes some minutes; CI does not run it.
#
# Needs root, debootstrap (installed if missing) and a Debian mirror as
# configured for apt. PCF_BARE_KEEP=1 keeps the directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bare-debian.sh: needs root (chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || {
	apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
}
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}

dir=$(mktemp -d /tmp/pgcopyfs-bare.XXXXXX)
chmod 755 "$dir" # it becomes "/", which every user must be able to enter
cleanup() {
	umount -R "$dir" 2>/dev/null || umount -R -l "$dir" 2>/dev/null || true
	if [ "${PCF_BARE_KEEP:-0}" = 1 ]; then
		echo "kept $dir" >&2
	else
		rm -rf --one-file-system "$dir"
	fi
}
trap cleanup EXIT

echo "== debootstrap bookworm (minbase) from $mirror into $dir"
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 ||
	{ tail -n 20 "$dir.log" >&2; exit 1; }
rm -f "$dir.log"
# "/" inside must be a mount point of its own, as on a machine (unshare -m
# in the tests changes its propagation); /dev brings /dev/fuse and /dev/shm.
mount --bind "$dir" "$dir"
mount -t proc proc "$dir/proc"
mount --rbind /sys "$dir/sys" && mount --make-rslave "$dir/sys"
mount --rbind /dev "$dir/dev" && mount --make-rslave "$dir/dev"
cp /etc/resolv.conf "$dir/etc/"
git clone -q "$root" "$dir/root/pgcopyfs"
echo "== cloned $(git -C "$root" rev-parse --short HEAD) (committed work only)"

if [ $# -gt 0 ]; then
	cmds=("$*")
else
	cmds=(examples/quickstart.sh tests/run.sh)
fi
for c in "${cmds[@]}"; do
	echo "== $c"
	chroot "$dir" /bin/bash -lc "cd /root/pgcopyfs && $c"
done
echo "== bare Debian 12: all passed"
