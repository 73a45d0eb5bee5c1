#!/usr/bin/env bash
# Runs runc's own integration suite (prepared by prepare.sh) against a runtime:
#   run.sh RUNTIME [FILE.bats...]
# Each file runs under a pseudo-terminal (the suite's terminal tests need one) with
# a time limit; whatever a file leaves running (a file that timed out leaves its
# container, whose cgroup would fail every later test reusing the ID) is deleted
# with the runtime before the next. Prints each test's outcome, then the counts.
# SUITE overrides where the prepared copy is; PER_FILE_TIMEOUT the limit (s).

set -uo pipefail
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
