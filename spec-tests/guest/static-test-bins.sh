#!/usr/bin/env bash
# Builds spec-test files (spec-tests/tests/NAME.rs) as statically linked
# executables for a guest, and prints their paths in the order given, one per line.
#
#   RUSTFLAGS=... TARGET=x86_64-unknown-linux-gnu static-test-bins.sh NAME...
#
# The paths come from cargo's JSON messages (grep/sed: a bare CI machine has no jq).
set -euo pipefail
: "${TARGET:?set TARGET to the target triple}"
messages=$(${CARGO:-cargo} test --release -p spec-tests $(printf -- '--test %s ' "$@") \
	--no-run --target "$TARGET" --message-format=json)
for name in "$@"; do
	exe=$(grep -o "\"executable\":\"[^\"]*/deps/${name//-/_}-[0-9a-f]*\"" <<<"$messages" |
		tail -n 1 | sed 's/^"executable":"//; s/"$//')
	[ -n "$exe" ] || { echo "static-test-bins.sh: cargo built no test executable for $name" >&2; exit 1; }
	echo "$exe"
done
