#!/usr/bin/env bash
# Builds, once per recipe, the Debian bookworm guest that the tests needing a
# real distribution boot under qemu: systemd as PID 1, AppArmor and SELinux
# (Debian's kernel has both; the kernel command line picks one), podman and
# containerd. Prints the directory that holds it:
#     disk.img     ext4 root filesystem (4 GiB, sparse), SELinux-labelled
#     vmlinuz, initrd.img   the guest's own kernel and initramfs
# The directory is /var/cache/anchor-runtime/debian-guest-<hash> (ANCHOR_CACHE
# replaces /var/cache/anchor-runtime), keyed by a hash of this script and the
# files it bakes in, so a second make test reuses it; an interrupted build
# leaves only a .building directory that the next build removes.
#
# Needs root, debootstrap and e2fsprogs (mkfs.ext4 -d keeps the SELinux xattrs).
# Debian comes from the mirror apt is configured with (MIRROR overrides it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ANCHOR_CACHE:-/var/cache/anchor-runtime}
# The guest's packages. apparmor: apparmor_parser and the boot-time loading of
# profiles; selinux-policy-default, policycoreutils (setfiles, load_policy) and
# selinux-utils: the SELinux boot; podman, conmon, catatonit, containerd: the
# engines the tests drive; busybox-static: the spec-tests' container rootfs;
# keyutils: keyctl, to read a keyring's label; dbus-user-session: the user's bus
# (/run/user/UID/bus) that rootless podman and the rootless systemd driver use;
# criu, with iptables for its network lock: checkpoint and restore (Debian's criu
# 3.17 knows this kernel, where it does not know the hosts' newer ones); bats, jq,
# xz-utils, gcc and libc6-dev: runc's bats suite (spec-tests/runc-bats/in-guest.sh).
packages="linux-image-amd64 systemd-sysv udev dbus dbus-user-session kmod iproute2 procps
	apparmor selinux-policy-default policycoreutils selinux-utils
	podman conmon catatonit containerd runc busybox-static keyutils criu iptables
	bats jq xz-utils gcc libc6-dev"

key=$(cat "$here/build-image.sh" "$here/anchor-guest-boot" "$here/anchor-guest.service" | sha256sum | cut -c1-16)
dest=$cache/debian-guest-$key
if [ -f "$dest/done" ]; then
	echo "$dest"
	exit 0
fi

die() {
	echo "build-image.sh: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mkfs.ext4 -d with owners and xattrs)"
for tool in debootstrap mkfs.ext4 chroot; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install debootstrap e2fsprogs)"
done
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		head -n 1 | tr -d ' ' || true)
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

mkdir -p "$cache"
work=$cache/debian-guest-$key.building
root=$work/root
unmount_chroot() {
	for m in dev/pts dev proc sys; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	return 0
}
cleanup() {
	unmount_chroot
	[ -f "$dest/done" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf "$work"
mkdir -p "$work"
started=$(date +%s)

echo "build-image.sh: debootstrap bookworm from $MIRROR into $root" >&2
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
	die "debootstrap failed; last lines of its log:$(tail -n 5 "$work/debootstrap.log")"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts"
# No daemon may start in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
echo "build-image.sh: installing" $packages >&2
# shellcheck disable=SC2086
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages \
	>"$work/apt.log" 2>&1 || die "apt-get install in the guest failed; last lines:$(tail -n 5 "$work/apt.log")"
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"

# ---- configuration ----
echo anchor-guest >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
# Root logs in on the console without a password, for whoever debugs a boot.
chroot "$root" passwd -d root >/dev/null
# Permissive: the labels are set and reported as in enforcing mode, but a denial
# is logged instead of enforced (enforcing denies the 9p kit's mount).
mkdir -p "$root/etc/selinux"
printf 'SELINUX=permissive\nSELINUXTYPE=default\n' >"$root/etc/selinux/config"
install -m 0755 "$here/anchor-guest-boot" "$root/usr/local/sbin/anchor-guest-boot"
install -m 0644 "$here/anchor-guest.service" "$root/etc/systemd/system/anchor-guest.service"
chroot "$root" systemctl enable anchor-guest.service >/dev/null 2>&1
# The tests use the console; no login prompt competes for it, nothing waits for a network.
chroot "$root" systemctl mask serial-getty@ttyS0.service getty@tty1.service \
	systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
# Label every file with the policy's contexts (as the installer does with
# `fixfiles`), so the SELinux boot finds a labelled system.
chroot "$root" setfiles -F /etc/selinux/default/contexts/files/file_contexts / >"$work/setfiles.log" 2>&1 ||
	die "labelling the guest with setfiles failed:$(tail -n 5 "$work/setfiles.log")"
unmount_chroot

kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)
initrd=$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n 1)
[ -n "$kernel" ] && [ -n "$initrd" ] || die "no kernel or initramfs in the guest's /boot"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
echo "build-image.sh: making the ext4 image" >&2
truncate -s 4G "$work/disk.img"
mkfs.ext4 -q -F -L anchor-guest -d "$root" "$work/disk.img"
rm -rf "$root"
mv "$work" "$dest"
echo "build $(($(date +%s) - started))s" >"$dest/done"
# Images of older recipes are no longer used: each holds about 1.1 GiB.
find "$cache" -maxdepth 1 -name 'debian-guest-*' ! -name "debian-guest-$key" ! -name '*.building' \
	-exec rm -rf {} +
echo "build-image.sh: built in $(($(date +%s) - started))s" >&2
echo "$dest"
