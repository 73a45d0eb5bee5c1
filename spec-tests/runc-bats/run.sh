#!/usr/bin/env bash
# Runs runc's own integration suite (prepared by prepare.sh) against a runtime:
#   run.sh RUNTIME [FILE.bats...]
# Each file runs under a pseudo-terminal (the suite's terminal tests need one) with
# a time limit; whatever a file leaves running (a file that timed out leaves its
# container, whose cgroup would fail every later test reusing the ID) is deleted
# with the runtime before the next. Prints each test's outcome, then the counts.
# SUITE overrides where the prepared copy is; PER_FILE_TIMEOUT the limit (s).

set -uo pipefail

# cgroup v1 hierarchies the kernel has (/proc/cgroups numbers them) that nothing
# here mounts, as "net_cls,net_prio": on this hybrid host nobody mounts net_cls and
# net_prio, which systemd mounts on any real one, so a container is never put in
# them and exec.bats sees its processes in the root there.
unmounted_v1_hierarchies() {
	local mounted
	mounted=$(awk '$0 ~ / - cgroup / {print $NF}' /proc/self/mountinfo | tr ',' '\n')
	awk 'NR > 1 && $2 != 0 {names[$2] = names[$2] ? names[$2] "," $1 : $1}
		END {for (h in names) print names[h]}' /proc/cgroups |
		while read -r names; do
			grep -qx "${names%%,*}" <<<"$mounted" || echo "$names"
		done
}

# Mounts them under /sys/fs/cgroup as systemd does, in a mount namespace of this
# run's own; the mount points (a directory and a link per controller on the host's
# tmpfs there, where the suite makes directories of its own too) go at the end.
mount_as_systemd_does() {
	local names name
	for names in "$@"; do
		mkdir "/sys/fs/cgroup/$names"
		mount -t cgroup -o "$names" cgroup "/sys/fs/cgroup/$names"
		for name in ${names//,/ }; do
			[ "$name" = "$names" ] || ln -s "$names" "/sys/fs/cgroup/$name"
		done
	done
	# shellcheck disable=SC2064 # the names are known now
	trap "cd /sys/fs/cgroup && umount -l $* && rmdir $* && rm -f ${*//,/ }" EXIT
}

missing=$(unmounted_v1_hierarchies)
if [ -n "$missing" ]; then
	if [ -z "${ANCHOR_BATS_OWN_MOUNTS:-}" ]; then
		exec unshare --mount --propagation private env ANCHOR_BATS_OWN_MOUNTS=1 bash "$0" "$@"
	fi
	# shellcheck disable=SC2086 # one word per hierarchy
	mount_as_systemd_does $missing
fi

runtime=$(realpath "$1")
shift
suite=${SUITE:-/var/cache/anchor-runtime/runc-bats-v1.3.6}
[ -d "$suite/tests/integration" ] || { echo "$0: no prepared suite at $suite (prepare.sh)" >&2; exit 2; }
files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(cd "$suite/tests/integration" && ls ./*.bats | sed 's|^\./||')
out=$(mktemp -d /tmp/runc-bats.XXXXXX)
# The suite's own temporary directories are made searchable by all (a container
# root mapped to another host user must reach its rootfs, as in runc's CI where
# they lie under /tmp); mktemp made this one 0700.
chmod a+x "$out"
ln -sfn "$runtime" "$suite/runc"

# Runs a command as a child subreaper that reaps every orphan at once, as systemd
# does as PID 1 on a real host. Here PID 1 reaps orphans a second or more late, and
# the suite's kill and delete tests see the killed processes as zombies still there.
reaping() {
	python3 -c '
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
main = os.fork()
if main == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    pid, status = os.wait()
    if pid == main:
        sys.exit(os.waitstatus_to_exitcode(status))
' "$@"
}

# script's input: a FIFO held open for reading and writing, so it never reaches
# end-of-file (at end-of-file script types a NUL into the terminal, which a
# foreground `run` relays to the container, whose echo "^@" then spoils outputs
# the suite compares exactly).
mkfifo "$out/stdin"
exec {quiet_stdin}<>"$out/stdin"

for file in "${files[@]}"; do
	work=$out/${file%.bats}
	mkdir -p "$work"
	(cd "$suite" && TMPDIR=$work reaping script -qec "timeout ${PER_FILE_TIMEOUT:-600} bats -t tests/integration/$file" /dev/null) \
		>"$work.tap" 2>&1 <&"$quiet_stdin"
	# A container a test left behind: its state directory holds state.json.
	for state in $(find "$work" -name state.json 2>/dev/null); do
		container=$(dirname "$state")
		"$runtime" --root "$(dirname "$container")" delete --force "$(basename "$container")" >/dev/null 2>&1
	done
	# The suite makes its parent cgroup in every controller /proc/cgroups lists; on
	# a hybrid host the ones mounted nowhere (net_cls, hugetlb, ...) become plain
	# directories on /sys/fs/cgroup's tmpfs, which later look like v1 hierarchies
	# to other tools: removed while empty.
	for dir in /sys/fs/cgroup/*/; do
		mountpoint -q "$dir" || find "$dir" -depth -type d -empty -delete 2>/dev/null
	done
	grep -a -E '^(ok|not ok) ' "$work.tap" | tr -d '\r' | sed "s|^|$file: |"
done | tee "$out/results"

ok=$(grep -c -E ': ok [0-9]+ .*# skip' "$out/results")
passed=$(grep -E ': ok [0-9]+' "$out/results" | grep -c -v '# skip')
failed=$(grep -c -E ': not ok ' "$out/results")
echo "runc bats ($(basename "$runtime")): $passed passed, $failed failed, $ok skipped; TAP output in $out"
