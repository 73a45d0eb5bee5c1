#!/bin/bash
# guest.sh of in-guest.sh's kit: runs in the Debian guest, from /kit.
set -u
echo "bats-guest: kernel $(uname -r), $(nproc) CPUs, systemd $(systemctl --version | head -n 1 | cut -d' ' -f2)"
mkdir -p /var/cache/anchor-runtime && tar -C /var/cache/anchor-runtime -xf /kit/suite.tar
cp /kit/anchor-runtime /usr/local/bin/anchor-runtime
criu check >/dev/null 2>&1 && echo "bats-guest: criu check passes"
# get-images.sh asks Go for the architecture; the guest has no Go toolchain.
printf '#!/bin/sh\ncase "$*" in "env GOARCH") echo amd64 ;; "env GOARM") echo ;; *) echo "go: no Go toolchain in this guest" >&2; exit 1 ;; esac\n' >/usr/local/bin/go
chmod +x /usr/local/bin/go
cd /tmp
export SUITE=/var/cache/anchor-runtime/$(cat /kit/suite) PER_FILE_TIMEOUT=900 RUNC_USE_SYSTEMD=1
start=$(date +%s)
# shellcheck disable=SC2046 # one word per file
bash /kit/run.sh /usr/local/bin/anchor-runtime $(cat /kit/files)
rc=$?
echo "bats-guest: $(($(date +%s) - start)) s"
cp -a /tmp/runc-bats.* /kit/out/
exit $rc
