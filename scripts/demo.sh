#!/usr/bin/env bash
# Runs rmqlb's demo lab on a fresh Debian 12 machine, as root: a three-node
# RabbitMQ cluster with rmqlb on every broker host and a client host, all in
# network namespaces of their own (nothing touches this machine's interfaces),
# then a producer/consumer failover test through the VIP (the one of the blog
# post the README's example comes from) while the master's rmqlb is stopped
# and restarted, its link is cut and restored, and its broker is frozen and
# thawed. It prints a timeline and a summary, removes everything it made,
# and exits 0 when no confirmed message was lost. Flags are passed to the lab
# (go run ./cmd/rmqlb-lab -h).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/setup.sh
rmqlb_setup scripts/demo.sh "the lab creates network namespaces and runs RabbitMQ"

bindir=$(mktemp -d /tmp/rmqlb-demo.XXXXXX)
trap 'rm -rf "$bindir"' EXIT
echo "== building rmqlb (go build -o $bindir/rmqlb ./cmd/rmqlb)"
go build -o "$bindir/rmqlb" ./cmd/rmqlb

echo "== running the lab (go run ./cmd/rmqlb-lab; about 3-5 minutes, Ctrl-C cleans up and stops)"
status=0
go run ./cmd/rmqlb-lab -rmqlb "$bindir/rmqlb" "$@" || status=$?
exit "$status"
