#!/usr/bin/env bash
# The container lab's host image, as a root filesystem tarball: Debian bookworm from Debian's own
# archive (debootstrap, minbase) with PostgreSQL 15 and the tools the runbook's steps call on a
# host (losetup, mount, mkfs.ext4, ps, timeout, runuser). tini is PID 1 (it reaps the postmasters
# a crash leaves). Usage: build-rootfs.sh OUT.tar. lab/containers/image.ts hashes this file: any
# change here makes a new image tag, an unchanged file reuses the tarball already built.
set -euo pipefail
out=${1:?usage: build-rootfs.sh OUT.tar}
mirror=${POLAR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=postgresql-15,postgresql-client-15,util-linux,mount,procps,e2fsprogs,coreutils,findutils,grep,tini
work=$(mktemp -d "${out}.build.XXXXXX")
cleanup() {
  # debootstrap mounts /proc and /sys in the root while it runs; never rm into a mount.
  for m in proc sys dev/pts dev; do mountpoint -q "$work/root/$m" 2>/dev/null && umount -l "$work/root/$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
# policy-rc.d in the new root: the packages must not start their services (the default cluster).
mkdir -p "$work/root/usr/sbin"
printf '#!/bin/sh\nexit 101\n' >"$work/root/usr/sbin/policy-rc.d"
chmod +x "$work/root/usr/sbin/policy-rc.d"
debootstrap --variant=minbase --include="$packages" bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "debootstrap of bookworm from $mirror failed (log above)" >&2
  exit 1
}
rm -f "$work/root/usr/sbin/policy-rc.d"
# The cluster the package made is not ours: the lab's data lives on its disks.
rm -rf "$work/root/var/lib/postgresql/15/main" "$work/root/etc/postgresql/15/main"
# The seed's local dirs live in /home/postgres.
chroot "$work/root" install -d -o postgres -g postgres -m 0755 /home/postgres
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar -C "$work/root" --numeric-owner -cf "$out.partial" .
mv "$out.partial" "$out"
