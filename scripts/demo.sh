#!/usr/bin/env bash
# Runs rmqlb's demo lab on a fresh Debian 12 machine, as root: a three-node
# RabbitMQ cluster with rmqlb on every broker host and a client host, all in
# network namespaces of their own (nothing touches this machine's interfaces),
# then the seed blog post's producer/consumer failover test through the VIP
# while the master's rmqlb is stopped and restarted, its link is cut and
# restored, and its broker is frozen and thawed. It prints a timeline and a
# summary, removes everything it made, and exits 0 when no confirmed message
# was lost. Flags are passed to the lab (go run ./cmd/rmqlb-lab -h).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/demo.sh: run as root (the lab creates network namespaces and runs RabbitMQ)" >&2
	exit 2
fi
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "scripts/demo.sh: Go 1.26 is required (go.mod), none on PATH" >&2; exit 2; }

export DEBIAN_FRONTEND=noninteractive
echo "== installing RabbitMQ, keepalived, HAProxy, iproute2 (apt-get)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	rabbitmq-server keepalived haproxy iproute2 procps psmisc ca-certificates >/dev/null
# The packages' own services are not ours: the lab starts its own processes
# (and Debian's epmd would hold port 4369 in this namespace; the lab's nodes
# use epmds of their own inside the lab's namespaces anyway).
for s in rabbitmq-server keepalived haproxy; do
	service "$s" stop >/dev/null 2>&1 || true
done

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
bindir=$(mktemp -d /tmp/rmqlb-demo.XXXXXX)
trap 'rm -rf "$bindir"' EXIT
echo "== building rmqlb (go build -o $bindir/rmqlb ./cmd/rmqlb)"
go build -o "$bindir/rmqlb" ./cmd/rmqlb

echo "== running the lab (go run ./cmd/rmqlb-lab; about 3-5 minutes, Ctrl-C cleans up and stops)"
status=0
go run ./cmd/rmqlb-lab -rmqlb "$bindir/rmqlb" "$@" || status=$?
exit "$status"
