#!/usr/bin/env bash
# Runs rmqlb's whole test suite on a fresh Debian 12 machine, as root, in
# about 13 minutes on 2 cores (after apt-get). It installs what the tests need (RabbitMQ,
# keepalived, HAProxy, iproute2, tcpdump, gcc for the race detector), then:
#
#   1. gofmt (every file formatted) and go vet ./...
#   2. staticcheck (pinned version, see STATICCHECK below)
#   3. unit tests with the race detector: every package but integration/
#      and bench/ (real RabbitMQ nodes on loopback for the check packages,
#      small netns fixtures, fuzz seeds, the import graph check)
#   4. the network-namespace integration tests and the benchmark's tests,
#      one package at a time, which start and stop their own RabbitMQ,
#      keepalived and rmqlb processes in namespaces they create and delete
#
# Every step runs even when an earlier one failed; the exit status is 0 only
# when all passed. Tests run with go test -json through internal/testgate,
# which prints the verdicts (and, for the integration tests, every test's
# logged figures), writes the whole verbose output to a log file, and fails
# the run on any skipped test that is not listed, with its reason, in
# .ci/allowed-skips: a machine that lacks a tool must not pass by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/setup.sh
rmqlb_setup scripts/test.sh "the integration tests create network namespaces"

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

logdir=$(mktemp -d /tmp/rmqlb-test.XXXXXX)
failed=()

# run NAME CMD...: runs one step and records its failure.
run() {
	local name=$1
	shift
	echo
	echo "== $name"
	local start=$SECONDS
	if "$@"; then
		echo "== $name: ok ($((SECONDS - start))s)"
	else
		echo "== $name: FAILED ($((SECONDS - start))s)"
		failed+=("$name")
	fi
}

# gotest LOG GATE-FLAGS -- GO-TEST-ARGS: go test -json judged by testgate.
gotest() {
	local log=$1
	shift
	local gateflags=()
	while [ "$1" != "--" ]; do
		gateflags+=("$1")
		shift
	done
	shift
	local status
	set +e
	go test -json "$@" 2>&1 |
		"$logdir/testgate" -allow .ci/allowed-skips -log "$log" -module "$module" "${gateflags[@]}"
	status=("${PIPESTATUS[@]}")
	set -e
	# Either side failing fails the step: go test's own status covers what
	# the stream might not show.
	[ "${status[0]}" -eq 0 ] && [ "${status[1]}" -eq 0 ]
}

echo "== building the test gate (logs in $logdir)"
go build -o "$logdir/testgate" ./internal/testgate
module=$(go list -m)
mapfile -t unit < <(go list ./... | grep -v -e "^$module/integration" -e "^$module/bench")
mapfile -t netns < <(go list ./integration/... ./bench/...)

gofmt_check() {
	local bad
	# Every .go file under the tree (a file gofmt cannot parse fails too).
	bad=$(gofmt -l .) || return 1
	[ -z "$bad" ] || { echo "not gofmt-formatted:"; echo "$bad"; return 1; }
}
run "gofmt" gofmt_check
run "go vet" go vet ./...
run "staticcheck ($STATICCHECK)" go run "$STATICCHECK" ./...
# The race detector needs cgo (setup.sh installs gcc).
unit_tests() { CGO_ENABLED=1 gotest "$logdir/unit.log" -- -race -count=1 -timeout 20m "${unit[@]}"; }
run "unit tests, race detector" unit_tests
run "integration tests (network namespaces, real RabbitMQ / keepalived / HAProxy)" \
	gotest "$logdir/integration.log" -v -- -count=1 -p 1 -timeout 25m "${netns[@]}"

echo
echo "logs: $logdir/unit.log (unit tests), $logdir/integration.log (integration tests, verbose)"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "all steps passed"
