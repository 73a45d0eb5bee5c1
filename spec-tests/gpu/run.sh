#!/usr/bin/env bash
# GPU containers on a host with an NVIDIA GPU (make test-gpu).
#
# Usage: run.sh RUNTIME [OTHER_RUNTIME...]
#   RUNTIME        anchor-runtime
#   OTHER_RUNTIME  runc or crun, for comparison: cases a, b and d run with them too
#
# The container's rootfs shares the host's /usr read-only (the driver under
# /usr/local/nvidia, CUDA under /usr/local/cuda) and the host's /etc/ld.so.cache.
#   a  nvidia-smi -L, the GPU given through linux.devices and device cgroup rules
#   b  a CUDA program compiled here with nvcc computes on the GPU, result checked
#   c  a and b again, the GPU given only as a CDI annotation (cdi.k8s.io/gpu:
#      nvidia.com/gpu=all) and a CDI spec this script writes for the host's driver
#      layout; the base config hides /usr/local/nvidia, which the CDI spec mounts back
#   d  the device nodes present but no allow rule: the CUDA program finds no device
# Then the cost of a GPU bundle's `run` next to a minimal bundle's.
# Without /dev/nvidiactl there is nothing to test: it says so and exits 0.

set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 RUNTIME [OTHER_RUNTIME...]" >&2; exit 2; }
if [ ! -c /dev/nvidiactl ]; then
	echo "test-gpu: no /dev/nvidiactl on this machine (no NVIDIA GPU or driver): nothing to test"
	exit 0
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runtime=$(realpath "$1")
shift
others=("$@")
nvidia=${NVIDIA_DIR:-/usr/local/nvidia}
cuda=${CUDA_DIR:-/usr/local/cuda}
work=$(mktemp -d /tmp/anchor-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() { # NAME WANT_RC(0 | nonzero) WANT_TEXT CMD...
	local name=$1 want=$2 text=$3 rc=0
	shift 3
	"$@" >"$work/out" 2>&1 </dev/null || rc=$?
	local ok=false
	if [ "$want" = nonzero ]; then [ "$rc" != 0 ] && ok=true; else [ "$rc" = "$want" ] && ok=true; fi
	if $ok && { [ -z "$text" ] || grep -qF -- "$text" "$work/out"; }; then
		passed=$((passed + 1))
		echo "ok   $name"
		sed 's/^/     | /' "$work/out" | head -n 8
	else
		failed=$((failed + 1))
		echo "FAIL $name: exit $rc (want $want), want output containing '$text', got:"
		sed 's/^/     | /' "$work/out" | head -n 20
	fi
}

# The host's GPU device nodes, and the rules that allow them: one per major
# (nvidia's 195, nvidia-uvm's and nvidia-caps' dynamic ones), any minor, rw.
nodes=()
for n in /dev/nvidia* /dev/nvidia-caps/*; do
	[ -c "$n" ] && nodes+=("$n")
done
devices_json=
majors=()
for n in "${nodes[@]}"; do
	major=$((16#$(stat -c %t "$n")))
	minor=$((16#$(stat -c %T "$n")))
	devices_json+="${devices_json:+,}{\"path\": \"$n\", \"type\": \"c\", \"major\": $major, \"minor\": $minor, \"fileMode\": 438, \"uid\": 0, \"gid\": 0}"
	[[ " ${majors[*]} " == *" $major "* ]] || majors+=("$major")
done
rules_json=
for m in "${majors[@]}"; do
	rules_json+=",{\"allow\": true, \"type\": \"c\", \"major\": $m, \"access\": \"rw\"}"
done
echo "GPU device nodes: ${nodes[*]} (majors ${majors[*]})"

# The CUDA program, built with the host's nvcc into a directory the containers see.
mkdir -p "$work/bin"
if ! "$cuda/bin/nvcc" -O2 -o "$work/bin/vecadd" "$here/vecadd.cu" >"$work/nvcc.log" 2>&1; then
	echo "nvcc failed:"
	cat "$work/nvcc.log"
	exit 1
fi

# bundle DIR ARGS DEVICES RULES EXTRA_MOUNTS ANNOTATIONS: a config.json over an
# empty rootfs whose /usr is the host's.
bundle() {
	local dir=$1
	mkdir -p "$dir/rootfs"/{usr,etc,proc,sys,dev,tmp,root,gpu-test}
	for l in bin sbin lib lib64; do [ -e "$dir/rootfs/$l" ] || ln -s "usr/$l" "$dir/rootfs/$l"; done
	cat >"$dir/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "user": {"uid": 0, "gid": 0},
    "args": $2,
    "env": ["PATH=$nvidia/bin:$cuda/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LD_LIBRARY_PATH=$nvidia/lib64:$nvidia/lib:$cuda/lib64", "HOME=/root"],
    "cwd": "/",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "gpu-test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]},
    {"destination": "/etc/ld.so.cache", "type": "bind", "source": "/etc/ld.so.cache", "options": ["bind", "ro"]},
    {"destination": "/gpu-test", "type": "bind", "source": "$work/bin", "options": ["bind", "ro"]}
    $5
  ],
  "linux": {
    "devices": [$3],
    "resources": {"devices": [{"allow": false, "access": "rwm"}$4]},
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  },
  "annotations": {$6}
}
EOF
}

smi='["nvidia-smi", "-L"]'
vecadd='["/gpu-test/vecadd"]'
n=0
run_in() { # RUNTIME BUNDLE [GLOBAL FLAGS...]
	local rt=$1 dir=$2
	shift 2
	n=$((n + 1))
	timeout 120 "$rt" --root "$work/state" "$@" run --bundle "$dir" "gpu-test-$$-$n"
}

for rt in "$runtime" "${others[@]}"; do
	name=$(basename "$rt")
	bundle "$work/a-$name" "$smi" "$devices_json" "$rules_json" "" ""
	check "a ($name): nvidia-smi -L, GPU from linux.devices and allow rules" 0 "GPU 0:" run_in "$rt" "$work/a-$name"
	bundle "$work/b-$name" "$vecadd" "$devices_json" "$rules_json" "" ""
	check "b ($name): a CUDA program computes on the GPU" 0 "CUDA OK" run_in "$rt" "$work/b-$name"
	bundle "$work/d-$name" "$vecadd" "$devices_json" "" "" ""
	check "d ($name): device nodes but no allow rule: no device for CUDA" nonzero "CUDA FAILED" run_in "$rt" "$work/d-$name"
done

# c: CDI. The spec names the nodes without numbers (read from the host), mounts
# the driver's directory, sets the toolkit's variable and runs a createContainer
# hook, as NVIDIA's generated specs do.
mkdir -p "$work/cdi"
cdi_nodes=
for node in "${nodes[@]}"; do cdi_nodes+="${cdi_nodes:+,}{\"path\": \"$node\"}"; done
cat >"$work/cdi/nvidia.json" <<EOF
{
  "cdiVersion": "0.6.0",
  "kind": "nvidia.com/gpu",
  "devices": [{"name": "all", "containerEdits": {"deviceNodes": [$cdi_nodes]}}],
  "containerEdits": {
    "env": ["NVIDIA_VISIBLE_DEVICES=all"],
    "mounts": [{"hostPath": "$nvidia", "containerPath": "$nvidia", "options": ["ro", "nosuid", "nodev", "rbind"]}],
    "hooks": [{"hookName": "createContainer", "path": "/bin/sh", "args": ["sh", "-c", "echo ran > $work/cdi-hook-ran"]}]
  }
}
EOF
hide_driver=",{\"destination\": \"$nvidia\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"ro\"]}"
annotation='"cdi.k8s.io/gpu": "nvidia.com/gpu=all"'
bundle "$work/c-smi" "$smi" "" "" "$hide_driver" "$annotation"
check "c: nvidia-smi -L, GPU only from CDI" 0 "GPU 0:" run_in "$runtime" "$work/c-smi" --cdi-spec-dirs "$work/cdi"
bundle "$work/c-vecadd" "$vecadd" "" "" "$hide_driver" "$annotation"
check "c: a CUDA program computes on the GPU, GPU only from CDI" 0 "CUDA OK" \
	run_in "$runtime" "$work/c-vecadd" --cdi-spec-dirs "$work/cdi"
check "c: the CDI spec's createContainer hook ran" 0 ran cat "$work/cdi-hook-ran"
bundle "$work/c-hidden" "$smi" "" "" "$hide_driver" ""
check "c (control): without the CDI annotation the driver is hidden" nonzero "" run_in "$runtime" "$work/c-hidden"

# The cost of `run`: the GPU bundle (its nodes, rules and mounts) next to the same
# rootfs with none of them, runs interleaved so that both see the same machine.
elapsed_us() { # CMD...: wall time of one run
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
median_ms() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'; }
bundle "$work/cost-min" '["true"]' "" "" "" ""
bundle "$work/cost-gpu" '["true"]' "$devices_json" "$rules_json" "" ""
: >"$work/floor" && : >"$work/minimal" && : >"$work/gpu"
for _ in $(seq 31); do
	elapsed_us /usr/bin/true >>"$work/floor"
	elapsed_us run_in "$runtime" "$work/cost-min" >>"$work/minimal"
	elapsed_us run_in "$runtime" "$work/cost-gpu" >>"$work/gpu"
done
floor=$(median_ms <"$work/floor")
minimal=$(median_ms <"$work/minimal")
gpu=$(median_ms <"$work/gpu")
echo "run, median of 31: host exec of true ${floor} ms (the floor), minimal bundle ${minimal} ms, GPU bundle ${gpu} ms"
# A few more mknods and cgroup rules: within 1 ms, or 10 % on a slow machine.
check "a GPU bundle's run costs about what a minimal one's does over the floor" 0 "" \
	awk -v g="$gpu" -v m="$minimal" 'BEGIN { slack = m / 10 > 1 ? m / 10 : 1; exit !(g <= m + slack) }'

echo "test-gpu: $passed passed, $failed failed"
[ "$failed" = 0 ]
