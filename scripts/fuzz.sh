#!/usr/bin/env bash
# Runs every fuzz target of rmqlb (go test -fuzz) for a while each: the
# parsers of everything that comes from outside (VRRP adverts, AMQP frames,
# PROXY headers, netlink address messages, ARP frames and neighbour
# advertisements of other hosts, the
# configuration file, names and states typed by operators, and the
# configurations rmqlb import reads). Each target runs FUZZTIME (default 60s); new failing inputs are
# written to the package's testdata/fuzz/ directory by go test, and then run
# as regression cases by every go test.
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
failed=()
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# Every func FuzzX(f *testing.F) of the package's test files.
	mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
	for target in "${targets[@]}"; do
		echo "== $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "every fuzz target passed"
