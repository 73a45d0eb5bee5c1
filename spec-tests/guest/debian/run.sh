#!/usr/bin/env bash
# Boots the Debian test guest (build-image.sh builds it once) and runs a kit in it.
#
#   run.sh KIT_DIR [KERNEL_ARGUMENT...]
#
# KIT_DIR is shared with the guest over 9p: its guest.sh runs as root once the
# guest is up (systemd, D-Bus, AppArmor profiles or SELinux policy loaded), from
# /kit, and what it prints and its exit status come back in KIT_DIR/out/. The
# kernel arguments pick what the boot enables (e.g. security=selinux selinux=1).
# The image is opened with snapshot=on: every boot starts from the same clean disk.
#
# Environment: GUEST_TIMEOUT (seconds, default 900), GUEST_MEM (2G), GUEST_CPUS (2).
# Exit status: guest.sh's, or 1 with a message when the guest never reported one.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
	echo "run.sh: $*" >&2
	exit 1
}
[ $# -ge 1 ] && [ -f "$1/guest.sh" ] || die "usage: run.sh KIT_DIR [KERNEL_ARGUMENT...] (KIT_DIR/guest.sh must exist)"
kit=$(cd "$1" && pwd)
shift
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
image=$("$here/build-image.sh")

rm -rf "$kit/out"
mkdir -p "$kit/out"
# panic=-1 with -no-reboot: a kernel panic ends qemu at once.
# mitigations=off, tsc=reliable: less work under TCG, no clocksource noise.
cmdline="root=/dev/vda rw console=ttyS0 panic=-1 quiet mitigations=off tsc=reliable $*"
echo "run.sh: booting the Debian guest ($cmdline), TCG"
started=$(date +%s)
# TCG (no KVM: nested KVM hangs on these machines). -nodefaults: the devices are
# the serial console, the disk and the 9p share, nothing else.
set +e
timeout --foreground -k 10 "${GUEST_TIMEOUT:-900}" \
	qemu-system-x86_64 -nodefaults -no-user-config \
	-accel tcg,thread=multi -cpu max -m "${GUEST_MEM:-2G}" -smp "${GUEST_CPUS:-2}" \
	-display none -serial stdio -no-reboot \
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$cmdline" \
	-drive "file=$image/disk.img,format=raw,if=virtio,snapshot=on" \
	-virtfs "local,path=$kit,mount_tag=kit,security_model=none" \
	</dev/null 2>&1 | sed -u 's/\r//g' >"$kit/out/console"
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))
if [ ! -s "$kit/out/rc" ]; then
	tail -n 60 "$kit/out/console" >&2
	case $qemu_rc in
	124 | 137) die "FAILED: the guest did not finish within ${GUEST_TIMEOUT:-900}s (its console's end is above)" ;;
	*) die "FAILED: the guest ended without reporting a result after ${elapsed}s (qemu exit $qemu_rc; the console's end is above)" ;;
	esac
fi
cat "$kit/out/log"
rc=$(cat "$kit/out/rc")
echo "run.sh: the guest's tests exited with $rc (${elapsed}s from boot to power-off)"
exit "$rc"
