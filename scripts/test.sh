#!/usr/bin/env bash
# Runs rmqlb's whole test suite on a fresh Debian 12 machine, as root.
# It installs what the tests need (RabbitMQ, keepalived, HAProxy, iproute2,
# tcpdump), then runs unit tests, fuzz seeds, and the network-namespace
# integration tests, which start and stop their own RabbitMQ, keepalived and
# rmqlb processes in namespaces they create and delete.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/setup.sh
rmqlb_setup scripts/test.sh "the integration tests create network namespaces"

echo "== go vet"
go vet ./...
status=0
echo "== unit tests (real RabbitMQ nodes on loopback for the check packages)"
go test -count=1 -timeout 10m $(go list ./... | grep -v -e /integration -e /bench) || status=$?
echo "== integration tests (network namespaces, real RabbitMQ / keepalived / HAProxy)"
log=$(mktemp /tmp/rmqlb-integration.XXXXXX.log)
go test -count=1 -p 1 -timeout 25m -v ./integration/... ./bench/... >"$log" 2>&1 || status=$?
# The verbose log is long: show the test verdicts and every failure's lines.
grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok |panic:)|^\s+[a-z_]+\.go:[0-9]+:' "$log" || true
echo "(full log: $log)"
exit "$status"
