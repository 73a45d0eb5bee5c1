# anchor-runtime: build, demo and test entry points. Run as root on Debian.
#   make run    build the runtime and the busybox bundle, run a container from it
#   make test   formatting, lints, unit tests and the spec-tests conformance suite,
#               here and (test-cgroupv2) in a pure cgroup-v2 guest
#   make test-cgroupv2  the cgroup spec-tests in a pure cgroup-v2 qemu guest

CARGO       ?= cargo
TARGET      := x86_64-unknown-linux-gnu
RUNTIME     := target/release/anchor-runtime
PROBE       := target/$(TARGET)/release/probe
BUNDLE      := bundles/busybox
ROOTFS      := $(BUNDLE)/rootfs
# Debian packages the targets need; only the missing ones are installed.
# runc: the reference the parity tests compare against.
DEB_DEPS    := busybox-static gcc libc6-dev runc
# test-cgroupv2: the spec-tests (spec-tests/tests/<name>.rs) run in the guest,
# and the packages it needs on top of DEB_DEPS, installed without recommends
# (qemu's pull in GTK). The guest boots the host's kernel from linux-image-amd64;
# procps: run.sh copies the host's ps into the guest.
CGROUPV2_TESTS    := cgroups
CGROUPV2_DEB_DEPS := qemu-system-x86 linux-image-amd64 busybox-static cpio procps
# The guest has no libc: everything it runs is linked statically. Where cargo
# puts it follows CARGO_TARGET_DIR like cargo does.
STATIC_RUSTFLAGS  := -C target-feature=+crt-static
STATIC_DIR        := $(or $(CARGO_TARGET_DIR),target)/$(TARGET)/release

.PHONY: all deps build probe bundle run test test-cgroupv2 clean

all: build

deps:
	@missing=$$(for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build:
	ANCHOR_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(CARGO) build --release --bin anchor-runtime

# The probe runs inside test containers, whose rootfs has no libc: link it statically.
probe:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p probe --target $(TARGET)

# busybox rootfs from Debian's busybox-static: the binary plus one link per applet.
bundle: deps
	rm -rf $(ROOTFS)
	mkdir -p $(ROOTFS)/bin $(ROOTFS)/proc $(ROOTFS)/sys $(ROOTFS)/dev $(ROOTFS)/tmp $(ROOTFS)/etc
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
	$(MAKE) test-cgroupv2

# The cgroup spec-tests on a pure cgroup-v2 kernel (the host may be v1 or
# hybrid): static runtime, probe and test executables go into a qemu (TCG)
# guest; see spec-tests/guest/run.sh. The test executables' paths come from
# cargo's JSON messages (grep/sed: no jq or python on a bare CI machine).
test-cgroupv2: deps
	@missing=$$(for p in $(CGROUPV2_DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	ANCHOR_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) RUSTFLAGS="$(STATIC_RUSTFLAGS)" \
		$(CARGO) build --release --bin anchor-runtime --target $(TARGET)
	$(MAKE) probe
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) test --release -p spec-tests $(addprefix --test ,$(CGROUPV2_TESTS)) \
		--no-run --target $(TARGET) --message-format=json > $(STATIC_DIR)/cgroupv2-tests.json
	@bins=; for t in $(CGROUPV2_TESTS); do \
		exe=$$(grep -o "\"executable\":\"[^\"]*/deps/$$(echo $$t | tr - _)-[0-9a-f]*\"" $(STATIC_DIR)/cgroupv2-tests.json \
			| tail -n 1 | sed 's/^"executable":"//; s/"$$//'); \
		[ -n "$$exe" ] || { echo "no test executable for $$t in $(STATIC_DIR)/cgroupv2-tests.json" >&2; exit 1; }; \
		bins="$$bins $$exe"; \
	done; \
	echo "ANCHOR_RUNTIME=$(STATIC_DIR)/anchor-runtime PROBE=$(STATIC_DIR)/probe TEST_BINS=\"$${bins# }\" spec-tests/guest/run.sh"; \
	ANCHOR_RUNTIME=$(STATIC_DIR)/anchor-runtime PROBE=$(STATIC_DIR)/probe TEST_BINS="$${bins# }" spec-tests/guest/run.sh

clean:
	$(CARGO) clean
	rm -rf $(ROOTFS)
