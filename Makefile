# anchor-runtime: build, demo and test entry points. Run as root on Debian.
#   make run    build the runtime and the busybox bundle, run a container from it
#   make test   formatting, lints, unit tests and the spec-tests conformance suite

CARGO       ?= cargo
TARGET      := x86_64-unknown-linux-gnu
RUNTIME     := target/release/anchor-runtime
PROBE       := target/$(TARGET)/release/probe
BUNDLE      := bundles/busybox
ROOTFS      := $(BUNDLE)/rootfs
# Debian packages the targets need; only the missing ones are installed.
# runc: the reference the parity tests compare against.
DEB_DEPS    := busybox-static gcc libc6-dev runc

.PHONY: all deps build probe bundle run test clean

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

clean:
	$(CARGO) clean
	rm -rf $(ROOTFS)
