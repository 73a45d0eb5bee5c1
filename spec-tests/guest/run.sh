#!/usr/bin/env bash
# Runs spec-test binaries inside a pure cgroup-v2 Linux guest under qemu.
#
# The host may be cgroup v1 or hybrid; the guest boots the host's Debian
# kernel with cgroup_no_v1=all, so the runtime sees only the unified
# hierarchy. qemu uses TCG (no KVM: nested KVM is unreliable on CI machines
# and hangs on some), so everything in the guest is slow but deterministic.
#
# Inputs (environment):
#   ANCHOR_RUNTIME  runtime binary, statically linked (the guest has no libc)
#   PROBE           probe binary, statically linked
#   TEST_BINS       space-separated libtest executables, statically linked;
#                   run in this order, each with --test-threads=2
#   TEST_ARGS       optional extra libtest arguments (split on whitespace)
#   KERNEL          optional kernel image; default: newest /boot/vmlinuz-*
#                   (a generic one before -cloud-/-rt- flavours)
#   BUSYBOX         optional static busybox; default: /bin/busybox
#   GUEST_TIMEOUT   optional limit in seconds for the whole guest run (600)
#   GUEST_MEM, GUEST_CPUS  optional qemu -m / -smp (2G, 2)
#   GUEST_LOG       optional file to keep a copy of the console log in
#   GUEST_HOST_TOOLS  host programs copied into the guest with their shared
#                   libraries, replacing busybox's applet (default: ps)
#
# Output: the guest's serial console on stdout (CRs stripped, so libtest's
# lines arrive intact). Exit status: the guest's (0 when every test binary
# passed, else the last failing binary's status), or 1 with a message when the
# guest never reported one (boot failure, kernel panic, timeout).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	echo "run.sh: $*" >&2
	exit 1
}

: "${ANCHOR_RUNTIME:?set ANCHOR_RUNTIME to a statically linked runtime binary}"
: "${PROBE:?set PROBE to the statically linked probe binary}"
: "${TEST_BINS:?set TEST_BINS to the statically linked test executables}"
TEST_ARGS=${TEST_ARGS:-}
BUSYBOX=${BUSYBOX:-/bin/busybox}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
GUEST_MEM=${GUEST_MEM:-2G}
GUEST_CPUS=${GUEST_CPUS:-2}
GUEST_HOST_TOOLS=${GUEST_HOST_TOOLS-ps}
if [ -z "${KERNEL:-}" ]; then
	# The newest kernel (sort -V: vmlinuz-6.1.0-10 is newer than -9), preferring
	# linux-image-amd64's generic one to a cloud or rt flavour a cloud image
	# may boot with (those leave out drivers).
	kernels=$(find /boot -maxdepth 1 -name 'vmlinuz-*' | sort -V)
	KERNEL=$(grep -v -e '-cloud-' -e '-rt-' <<<"$kernels" | tail -n 1 || true)
	KERNEL=${KERNEL:-$(tail -n 1 <<<"$kernels")}
	[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*; install linux-image-amd64 or set KERNEL"
fi
[ -r "$KERNEL" ] || die "kernel $KERNEL is not readable"

for tool in qemu-system-x86_64 cpio timeout; do
	command -v "$tool" >/dev/null || die "$tool not found (make test-cgroupv2 installs it)"
done

# The guest has no dynamic loader or libc: refuse dynamically linked binaries
# here instead of failing inside the guest with a confusing "not found".
require_static() { # require_static WHAT PATH
	[ -f "$2" ] && [ -x "$2" ] || die "$1: $2 is not an executable file"
	local out
	out=$(LC_ALL=C ldd "$2" 2>&1 || true)
	case "$out" in
	*"not a dynamic executable"* | *"statically linked"*) ;;
	*) die "$1: $2 is dynamically linked; build it with RUSTFLAGS=\"-C target-feature=+crt-static\" --target x86_64-unknown-linux-gnu" ;;
	esac
}
require_static ANCHOR_RUNTIME "$ANCHOR_RUNTIME"
require_static PROBE "$PROBE"
require_static BUSYBOX "$BUSYBOX"
for t in $TEST_BINS; do require_static TEST_BINS "$t"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/anchor-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Ctrl-C or a CI cancel: exit through the EXIT trap so the temp dir goes too.
trap 'exit 130' INT
trap 'exit 143' TERM
root=$work/root
log=$work/console.log

# ---- initramfs: busybox, the binaries under test and /init ----
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,root,etc,newroot,usr,anchor/tests}
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# Everything lives in /bin; the usual other locations point there (hooks and
# scripts may name /usr/bin/env, /sbin/..., and /bin/sh must exist for hooks).
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
# Host tools the runtime runs whose busybox applet differs: `ps` must be
# procps' (the runtime's `ps` runs `ps -ef`, which busybox ignores). Each is
# copied with the shared libraries ldd names, at the same paths.
for tool in $GUEST_HOST_TOOLS; do
	path=$(command -v "$tool") || die "$tool not found on the host (GUEST_HOST_TOOLS; ps: install procps)"
	path=$(readlink -f "$path")
	rm -f "$root/bin/$tool"
	install -m 0755 "$path" "$root/bin/$tool"
	# ldd lines: "libx.so => /lib/.../libx.so (0x...)" or "/lib64/ld-linux... (0x...)".
	for lib in $(ldd "$path" | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
# The loop driver is a module in Debian's kernel: with it the guest has block
# devices (loop0..7) for the blockIO throttle tests. Only uncompressed modules
# can be loaded by busybox's insmod; without it those tests say they skip.
loop_ko=/lib/modules/$(basename "$KERNEL" | sed 's/^vmlinuz-//')/kernel/drivers/block/loop.ko
if [ -f "$loop_ko" ]; then
	mkdir -p "$root/anchor/modules"
	cp "$loop_ko" "$root/anchor/modules/"
fi
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$ANCHOR_RUNTIME" "$root/anchor/anchor-runtime"
install -m 0755 "$PROBE" "$root/anchor/probe"
n=0
for t in $TEST_BINS; do
	# The numeric prefix keeps TEST_BINS' order in the guest's /anchor/tests/*.
	n=$((n + 1))
	install -m 0755 "$t" "$root/anchor/tests/$(printf '%02d' "$n")-$(basename "$t")"
done
printf '%s\n' "$TEST_ARGS" >"$root/anchor/test-args"
# Name lookups (ps's UID column, user "root") work as on a normal host.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
# Uncompressed: no decompression for the slow TCG guest to do.
# -R 0:0: files owned by root in the guest whoever builds the archive.
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/initramfs.cpio"

# ---- boot ----
# cgroup_no_v1=all: no v1 hierarchy can be mounted, as on a unified-only host.
# panic=-1 with -no-reboot: a kernel panic (or PID 1 exiting) ends qemu at once.
# mitigations=off, tsc=reliable: less work under TCG, no clocksource noise.
cmdline="console=ttyS0 cgroup_no_v1=all panic=-1 quiet mitigations=off tsc=reliable"
echo "run.sh: booting $KERNEL (qemu TCG, $GUEST_CPUS CPUs, $GUEST_MEM, timeout ${GUEST_TIMEOUT}s)"
started=$(date +%s)
# -nodefaults: no VGA, NIC or option ROMs; the only device is the serial
# console on stdio. stdin is /dev/null so qemu never touches the terminal.
# -cpu max: every CPU feature TCG emulates (RDRAND seeds the guest's RNG early).
# timeout --foreground: qemu stays in our process group, so Ctrl-C stops it.
# sed -u strips the CR of the tty's CRLF line ends, unbuffered so the log
# streams; tee keeps the copy the result line is read from.
set +e
timeout --foreground -k 10 "$GUEST_TIMEOUT" \
	qemu-system-x86_64 -nodefaults -no-user-config \
	-accel tcg,thread=multi -cpu max -m "$GUEST_MEM" -smp "$GUEST_CPUS" \
	-display none -serial stdio -no-reboot \
	-kernel "$KERNEL" -initrd "$work/initramfs.cpio" -append "$cmdline" \
	</dev/null 2>&1 | sed -u 's/\r//g' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))
[ -z "${GUEST_LOG:-}" ] || cp "$log" "$GUEST_LOG"

# Anchored: the line the guest's finish() prints, not a mention of it.
rc=$(grep -a -E '^ANCHOR-GUEST-RESULT rc=[0-9]+$' "$log" | tail -n 1 | sed 's/.*rc=//' || true)
echo
if [ -z "$rc" ]; then
	case $qemu_rc in
	124 | 137) die "FAILED: the guest did not finish within ${GUEST_TIMEOUT}s (GUEST_TIMEOUT)" ;;
	*) die "FAILED: the guest ended without reporting a result after ${elapsed}s (qemu exit $qemu_rc; kernel panic or boot failure? see the console output above)" ;;
	esac
fi
# A recap for CI log readers: one libtest summary per test binary.
grep -a -E '^test result: ' "$log" | sed 's/^/run.sh: /' || true
if [ "$rc" -eq 0 ]; then
	echo "run.sh: all tests passed in the cgroup-v2 guest (${elapsed}s)"
else
	echo "run.sh: FAILED: tests in the cgroup-v2 guest exited with $rc (${elapsed}s)"
fi
exit "$rc"
