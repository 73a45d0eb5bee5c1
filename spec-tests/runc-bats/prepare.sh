#!/usr/bin/env bash
# Prepares a copy of runc's own integration suite (its bats tests) to run against
# anchor-runtime, outside the checkout, offline:
#   prepare.sh RUNC_GIT_DIR [TAG [DEST]]
# RUNC_GIT_DIR: a git directory of runc holding TAG (e.g. the snapshot the tool
# library's `fetch github:opencontainers/runc` gives). TAG defaults to v1.3.6, the
# newest release whose go.mod accepts Go 1.23; DEST to
# /var/cache/anchor-runtime/runc-bats-TAG.
# Needs, from Debian: bats, libseccomp-dev, gawk, jq, and a Go the tag accepts:
# golang-1.23-go from bookworm-backports for v1.3.x (found in /usr/lib/go-1.23),
# bookworm's golang-go (1.19) for v1.1.x.
# The suite's images, which it would download, are made here: busybox from this
# project's busybox rootfs (make bundle), Debian by debootstrap (minbase bookworm
# from the mirror apt uses; MIRROR overrides it), which needs debootstrap and xz.

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
git_dir=$1
tag=${2:-v1.3.6}
dest=${3:-/var/cache/anchor-runtime/runc-bats-$tag}
rootfs=$here/../../bundles/busybox/rootfs
[ -x "$rootfs/bin/busybox" ] || { echo "$0: no busybox rootfs at $rootfs (make bundle)" >&2; exit 2; }
[ -x /usr/lib/go-1.23/bin/go ] && export PATH=/usr/lib/go-1.23/bin:$PATH
# The Go the tag asks for is the one on PATH: never download another.
export GOTOOLCHAIN=local GOFLAGS=-mod=vendor

rm -rf "$dest"
mkdir -p "$dest"
git --git-dir "$git_dir" archive "$tag" | tar -C "$dest" -x
cd "$dest"
# The test helpers the suite runs (recvtty for terminals, the seccomp agent, the
# systemd helper, ...), from runc's vendored sources, where the tag's suite looks
# for them. The seccomp agent needs the seccomp build tag (cgo and libseccomp), or
# it only says "Not supported".
if [ -d tests/cmd ]; then
	for helper in $(sed -n 's/^TESTBINS := //p' Makefile); do
		go build -tags seccomp -o tests/cmd/_bin/ "./tests/cmd/$helper"
	done
else
	for helper in recvtty sd-helper seccompagent; do
		go build -tags seccomp -o "contrib/cmd/$helper/$helper" "./contrib/cmd/$helper"
	done
fi
# get-images.sh downloads nothing when the files are there. The busybox image the
# suite downloads has no /proc or /sys (its mask.bats plants symlinks there).
tar -C "$rootfs" -cJf tests/integration/testdata/busybox-amd64.tar.xz --exclude ./proc --exclude ./sys .
debian=$(mktemp -d)
debootstrap --variant=minbase bookworm "$debian" "${MIRROR:-http://deb.debian.org/debian}" >"$dest/debootstrap.log" 2>&1 ||
	{ echo "$0: debootstrap failed; see $dest/debootstrap.log" >&2; exit 1; }
# mktemp made it 0700; the image's / is 0755 like any root, which a container root
# mapped to another host user must search (idmap.bats "userns join").
chmod 755 "$debian"
tar -C "$debian" -cJf tests/integration/testdata/debian-amd64.tar.xz --exclude './dev/*' --exclude './var/cache/apt/*' .
rm -rf "$debian"
echo "prepared runc $tag's integration suite in $dest"
