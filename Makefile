# anchor-runtime: build, demo and test entry points. Run as root on Debian.
#   make run    build the runtime and the busybox bundle, run a container from it
#   make test   formatting, lints, unit tests and the spec-tests conformance suite,
#               here and (test-cgroupv2) in a pure cgroup-v2 guest
#   make test-cgroupv2  the cgroup spec-tests in a pure cgroup-v2 qemu guest
#   make test-lsm  AppArmor and SELinux in a Debian guest booted with each (qemu)
#   make test-systemd  the systemd cgroup driver in that guest, unified and hybrid
#   make test-e2e  containerd, podman, Docker and buildah drive the runtime end to end
#               (E2E_RUNTIME=/usr/sbin/runc runs the same suites against runc)
#   make test-gpu  GPU containers on a host with an NVIDIA GPU (GPU_COMPARE=runc
#               adds runc's results); says so and passes on a host without one
#   make bench  side-by-side lifecycle benchmark with runc and crun, and micro-benchmarks
#   make hot-functions  regenerates the code layout list the release build links by

CARGO       ?= cargo
TARGET      := x86_64-unknown-linux-gnu
# Everything that runs in a container or a guest, and the runtime itself, is linked
# statically: no dynamic loader at each start, a smaller RSS, and the same binary
# runs in the pure cgroup-v2 guest (which has no libc). Where cargo puts it follows
# CARGO_TARGET_DIR like cargo does. pack-relative-relocs (DT_RELR, glibc 2.36+):
# a static-pie binary relocates itself at each start; packed, its 11,000 relative
# relocations take 3 KiB instead of 270 KiB of the file, which a run no longer
# reads in (about 70 KiB less peak RSS per run). The functions a lifecycle runs are
# laid out together (benches/hot-functions.txt, from `make hot-functions`): about
# 0.5 MiB less peak RSS per run, and fewer page faults.
BASE_STATIC_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
STATIC_RUSTFLAGS  := $(BASE_STATIC_RUSTFLAGS) \
	-C link-arg=-Wl,--symbol-ordering-file=$(CURDIR)/benches/hot-functions.txt \
	-C link-arg=-Wl,--no-warn-symbol-ordering
STATIC_DIR        := $(or $(CARGO_TARGET_DIR),target)/$(TARGET)/release
RUNTIME     := $(STATIC_DIR)/anchor-runtime
PROBE       := $(STATIC_DIR)/probe
BUNDLE      := bundles/busybox
ROOTFS      := $(BUNDLE)/rootfs
# Debian packages the targets need; only the missing ones are installed.
# runc: the reference the parity tests compare against; uidmap: newuidmap and
# newgidmap, which the rootless tests use; criu and iptables (its network lock):
# checkpoint and restore (Debian's criu 3.17 fails on kernels newer than it knows,
# and the checkpoint tests then check the runtime's error; the Debian guest runs them
# for real).
DEB_DEPS    := busybox-static gcc libc6-dev runc uidmap criu iptables
# test-cgroupv2: the spec-tests (spec-tests/tests/<name>.rs) run in the guest,
# and the packages it needs on top of DEB_DEPS. The guest boots the host's kernel
# from linux-image-amd64; procps: run.sh copies the host's ps into the guest.
CGROUPV2_TESTS    := cgroups reliability
CGROUPV2_DEB_DEPS := qemu-system-x86 linux-image-amd64 busybox-static cpio procps
# test-lsm: the Debian guest is made with debootstrap into an ext4 image (e2fsprogs'
# mkfs.ext4 -d) and booted with qemu; it has its own kernel.
GUEST_DEB_DEPS    := qemu-system-x86 debootstrap e2fsprogs
# test-e2e: the tools spec-tests/e2e/run.sh drives, from Debian; the suites start
# their own containerd and give podman its own storage, so none needs a service.
E2E_DEB_DEPS      := containerd podman buildah conmon golang-github-containers-common procps docker.io
E2E_RUNTIME       ?= $(RUNTIME)
# bench: the tools benches/lifecycle.sh uses, and crun to compare with.
BENCH_DEB_DEPS    := hyperfine jq bc time crun

# $(call apt_install,PACKAGES): installs those that are not installed (removed ones
# whose config files remain count as missing), without
# recommends (qemu's pull in GTK).
apt_install = @missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

.PHONY: all deps build probe bundle run test test-cgroupv2 test-lsm test-systemd test-e2e test-gpu bench hot-functions clean

all: build

deps:
	$(call apt_install,$(DEB_DEPS))

build:
	ANCHOR_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) RUSTFLAGS="$(STATIC_RUSTFLAGS)" \
		$(CARGO) build --release --bin anchor-runtime --target $(TARGET)

# The probe runs inside test containers, whose rootfs has no libc.
probe:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --release -p probe --target $(TARGET)

# busybox rootfs from Debian's busybox-static: the binary plus one link per applet.
bundle: deps
	rm -rf $(ROOTFS)
	mkdir -p $(ROOTFS)/bin $(ROOTFS)/proc $(ROOTFS)/sys $(ROOTFS)/dev $(ROOTFS)/tmp $(ROOTFS)/etc
	mkdir -m 0700 $(ROOTFS)/root
	install -m 0755 /bin/busybox $(ROOTFS)/bin/busybox
	for applet in $$(/bin/busybox --list); do [ $$applet = busybox ] || ln -sf busybox $(ROOTFS)/bin/$$applet; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > $(ROOTFS)/etc/passwd
	printf 'root:x:0:\nnogroup:x:65534:\n' > $(ROOTFS)/etc/group

run: deps build bundle
	$(RUNTIME) run --bundle $(BUNDLE) anchor-demo-$$$$

test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MAKE) build probe
	$(CARGO) test --workspace --release -- --test-threads=2
	$(MAKE) test-e2e
	$(MAKE) test-cgroupv2
	$(MAKE) test-lsm
	$(MAKE) test-systemd

# End to end: containerd's runc shim (ctr), podman with conmon, Docker, podman build and
# buildah, each scenario asserting output and exit code (spec-tests/e2e/).
test-e2e: deps build bundle
	$(call apt_install,$(E2E_DEB_DEPS))
	spec-tests/e2e/run.sh $(E2E_RUNTIME) $(ROOTFS)

# The cgroup spec-tests on a pure cgroup-v2 kernel (the host may be v1 or
# hybrid): static runtime, probe and test executables go into a qemu (TCG)
# guest; see spec-tests/guest/run.sh. The test executables' paths come from
# cargo's JSON messages (grep/sed: no jq or python on a bare CI machine).
test-cgroupv2: deps build
	$(call apt_install,$(CGROUPV2_DEB_DEPS))
	$(MAKE) probe
	bins=$$(RUSTFLAGS="$(STATIC_RUSTFLAGS)" TARGET=$(TARGET) CARGO=$(CARGO) spec-tests/guest/static-test-bins.sh $(CGROUPV2_TESTS)); \
	ANCHOR_RUNTIME=$(RUNTIME) PROBE=$(PROBE) TEST_BINS="$$(echo $$bins)" spec-tests/guest/run.sh

# AppArmor and SELinux (spec-tests/tests/lsm.rs, and podman's default profile) in a
# Debian bookworm guest with systemd, booted once with each; the guest's image is
# built once per recipe and cached (spec-tests/guest/debian/build-image.sh).
test-lsm: deps build probe bundle
	$(call apt_install,$(GUEST_DEB_DEPS))
	lsm=$$(RUSTFLAGS="$(STATIC_RUSTFLAGS)" TARGET=$(TARGET) CARGO=$(CARGO) spec-tests/guest/static-test-bins.sh lsm); \
	spec-tests/guest/debian/test.sh lsm $(RUNTIME) $(PROBE) $(ROOTFS) $$lsm

# The systemd cgroup driver (spec-tests/tests/systemd.rs, and podman and containerd
# with theirs) in the same guest, booted with the unified and the hybrid layout; the
# rdma cgroup with a soft-RoCE device made there; checkpoint and restore with the
# guest's criu (which knows its kernel), the spec-tests and podman's.
test-systemd: deps build probe bundle
	$(call apt_install,$(GUEST_DEB_DEPS))
	tests=$$(RUSTFLAGS="$(STATIC_RUSTFLAGS)" TARGET=$(TARGET) CARGO=$(CARGO) spec-tests/guest/static-test-bins.sh systemd cgroups checkpoint); \
	spec-tests/guest/debian/test.sh systemd $(RUNTIME) $(PROBE) $(ROOTFS) $$tests

# GPU containers through linux.devices, device cgroup rules and CDI, on the
# host's NVIDIA GPU (spec-tests/gpu/run.sh). A machine with the runtime already
# built (and no cargo) runs it without building.
GPU_COMPARE ?=
test-gpu:
	@[ -x $(RUNTIME) ] || $(MAKE) build
	spec-tests/gpu/run.sh $(RUNTIME) $(GPU_COMPARE)

# Side by side with runc and crun on both bundles (benches/lifecycle.sh), then the
# micro-benchmarks of config parsing and seccomp compilation (benches/startup.rs).
bench: deps build
	$(call apt_install,$(BENCH_DEB_DEPS))
	benches/lifecycle.sh $(RUNTIME) $$(for r in runc crun; do command -v $$r; done)
	$(CARGO) bench --bench startup

# Regenerates benches/hot-functions.txt (needs gcc and binutils' nm; see the script).
hot-functions: bundle
	$(call apt_install,jq binutils)
	RUSTFLAGS="$(BASE_STATIC_RUSTFLAGS)" ANCHOR_COMMIT=hot-functions benches/hot-functions.sh

clean:
	$(CARGO) clean
	rm -rf $(ROOTFS)
