# Shared by the end-to-end suites (sourced, not run). run.sh sets up E2E_WORK,
# the busybox image and the podman environment, then runs each suite with
#   RUNTIME  the runtime binary under test (anchor-runtime, or runc to check the tests)
#   E2E_WORK the run's private directory, removed by run.sh afterwards
# Each check runs one command with a time limit, stdin from /dev/null and its
# output in a file (never a pipe: podman hands its stdio down to conmon and the
# container, and a pipe held open there would hang the suite).

passed=0
failed=0
# The last check's output, for a suite that wants to look closer.
last_output=

# check NAME WANT_RC WANT_TEXT CMD [ARGS...]: passes when CMD exits WANT_RC and its
# output (stdout and stderr) contains WANT_TEXT (empty: anything).
check() {
	local name=$1 want_rc=$2 want_text=$3
	shift 3
	local out="$E2E_WORK/check.out" rc=0
	timeout 120 "$@" >"$out" 2>&1 </dev/null || rc=$?
	last_output=$(tr -d '\r' <"$out")
	if [ "$rc" = "$want_rc" ] && [[ "$last_output" == *"$want_text"* ]]; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: exit $rc (want $want_rc), want output containing '$want_text', got:"
		sed 's/^/     | /' <<<"$last_output" | head -n 30
	fi
}

# check_not NAME TEXT: the last check's output must not contain TEXT.
check_not() {
	if [[ "$last_output" == *"$2"* ]]; then
		failed=$((failed + 1))
		echo "FAIL $1: output contains '$2'"
	else
		passed=$((passed + 1))
		echo "ok   $1"
	fi
}

# tty_command CMD...: CMD as one shell string, for `script -qec STRING /dev/null`,
# which gives CMD a pseudo-terminal as its stdio: the -t scenarios need one.
tty_command() {
	printf '%q ' "$@"
}
# script(1) runs the string with $SHELL, and %q quotes for bash.
export SHELL=/bin/bash

# wait_for NAME WANT_TEXT CMD...: retries CMD for up to 10 s until its output
# contains WANT_TEXT, then records the outcome as one check.
wait_for() {
	local name=$1 want_text=$2
	shift 2
	local i
	for i in $(seq 50); do
		if timeout 20 "$@" 2>&1 </dev/null | grep -qF -- "$want_text"; then
			break
		fi
		sleep 0.2
	done
	check "$name" 0 "$want_text" "$@"
}

# Reads a cgroup file inside a container, on v1 (memory/memory.limit_in_bytes) or
# v2 (memory.max): the shell snippet takes the v1 name and the v2 name.
cgroup_read() {
	printf 'cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s' "$1" "$2"
}

# Every suite ends with this line, and fails when a check did.
summary() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# Unmounts whatever is still mounted under a directory, deepest first.
unmount_under() {
	local dir=$1 m
	for m in $(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

# Removes a cgroup directory (and the empty ones below it) from every mounted
# hierarchy: the tools leave their parents behind (containerd's per-namespace
# directory, podman's libpod_parent with cgroupfs), as they do with runc.
remove_cgroup() {
	local rel=$1 mnt
	for mnt in $(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) ~ /^cgroup2?$/) print $5 }' /proc/self/mountinfo); do
		[ -d "$mnt/$rel" ] && find "$mnt/$rel" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}
