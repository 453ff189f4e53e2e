#!/usr/bin/env bash
# Runs every fuzz target of rmqlb (go test -fuzz) for a while each: the
# parsers of everything that comes from outside (VRRP adverts, AMQP frames,
# PROXY headers, netlink address messages, ARP frames and neighbour
# advertisements of other hosts, the configuration file and its files of
# client addresses, names and states typed by operators, the daemon's state
# file, and the configurations rmqlb import reads). Each target runs FUZZTIME (default 60s); new failing inputs are
# written to the package's testdata/fuzz/ directory by go test, and then run
# as regression cases by every go test. A target that Go's fuzzing stops
# with its own deadline and no failing input (a race of Go 1.26's fuzzing
# coordinator) is listed apart and does not fail the run.
#
#   ./scripts/fuzz.sh              every target, 60 s each
#   FUZZTIME=10s ./scripts/fuzz.sh
#   ./scripts/fuzz.sh ./vrrp       the targets of some packages only
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
fuzztime=${FUZZTIME:-60s}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	mapfile -t pkgs < <(go list ./...)
fi
# inputs prints how many inputs the corpus directory $1 holds.
inputs() {
	if [ -d "$1" ]; then
		find "$1" -type f | wc -l
	else
		echo 0
	fi
}
failed=()
deadline=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# Every func FuzzX(f *testing.F) of the package's test files.
	mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
	for target in "${targets[@]}"; do
		echo "== $pkg $target ($fuzztime)"
		corpus="$dir/testdata/fuzz/$target"
		before=$(inputs "$corpus")
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; then
			continue
		fi
		after=$(inputs "$corpus")
		# Go's fuzzing coordinator can report its own -fuzztime deadline as the
		# target's failure (go.dev/issue/75804, fixed in Go 1.27): the only
		# error is "context deadline exceeded", and no failing input is written.
		if [ "$after" = "$before" ] && grep -q "^--- FAIL: $target " "$out" &&
			[ "$(grep -A1 "^--- FAIL: $target " "$out" | tail -1 | tr -d '[:space:]')" = contextdeadlineexceeded ]; then
			echo "   ended by Go's fuzzing deadline (go.dev/issue/75804), not by an input: no failing input written"
			deadline+=("$pkg $target")
			continue
		fi
		failed+=("$pkg $target")
	done
done
if [ ${#deadline[@]} -gt 0 ]; then
	printf 'ended by the deadline of go test, no failing input: %s\n' "${deadline[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "every fuzz target passed"
