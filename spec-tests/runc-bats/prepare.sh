#!/usr/bin/env bash
# Prepares a copy of runc's own integration suite (its bats tests) to run against
# anchor-runtime, outside the checkout, offline:
#   prepare.sh RUNC_GIT_DIR [DEST]
# RUNC_GIT_DIR: a git directory of runc holding the tag v1.1.5 (e.g. the snapshot the
# tool library's `fetch github:opencontainers/runc` gives); DEST defaults to
# /var/cache/anchor-runtime/runc-bats-v1.1.5. Needs bats, golang-go (Debian's 1.19:
# runc 1.1.5's go.mod asks for 1.16, its test helpers build with it; newer tags want
# a newer Go), libseccomp-dev, gawk and jq, all from Debian. The suite's images, which it would
# download, are made from this project's busybox rootfs (make bundle).

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
git_dir=$1
dest=${2:-/var/cache/anchor-runtime/runc-bats-v1.1.5}
rootfs=$here/../../bundles/busybox/rootfs
[ -x "$rootfs/bin/busybox" ] || { echo "$0: no busybox rootfs at $rootfs (make bundle)" >&2; exit 2; }

rm -rf "$dest"
mkdir -p "$dest"
git --git-dir "$git_dir" archive v1.1.5 | tar -C "$dest" -x
cd "$dest"
# The test helpers the suite runs (recvtty for terminals, the seccomp agent, the
# systemd helper), from runc's vendored sources.
# The seccomp agent needs the seccomp build tag (cgo and libseccomp), or it only says
# "Not supported".
for helper in recvtty sd-helper seccompagent; do
	GOFLAGS=-mod=vendor go build -tags seccomp -o "contrib/cmd/$helper/$helper" "./contrib/cmd/$helper"
done
# get-images.sh downloads nothing when the files are there: both images are the
# busybox rootfs (the few tests that need Debian's tools fail or skip, and are
# listed as such).
tar -C "$rootfs" -cJf tests/integration/testdata/busybox-amd64.tar.xz .
cp tests/integration/testdata/busybox-amd64.tar.xz tests/integration/testdata/debian-amd64.tar.xz
echo "prepared runc v1.1.5's integration suite in $dest"
