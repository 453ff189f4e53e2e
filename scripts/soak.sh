#!/usr/bin/env bash
# Runs the lab's fault soak unattended, as root (hours with the default 20
# cycles of each fault): first on three nodes with a quorum queue, then on the
# blog post's two nodes (disc + RAM, classic queue mirrored by ha-all) through
# the VIP, then on the same two nodes with the clients connected straight to a
# broker the fault leaves alone (-direct: RabbitMQ's own behaviour, to compare
# with). Each run writes its progress lines (NAME.out), the detailed timeline
# (NAME.events), every cycle's figures (NAME.json) and an SVG timeline per
# fault (svg-NAME/) into OUT, and ends with its Markdown table; every run
# removes its namespaces and brokers, also on Ctrl-C, which stops the script.
#
#   CYCLES  cycles of each fault (default 20)
#   OUT     output directory (default /var/tmp/rmqlb-soak-<UTC date and time>)
#   RUNS    which runs, in order (default "three blog blog-direct")
#
# Further arguments are passed to every run (go run ./cmd/rmqlb-lab -h).
# The exit status is 0 when every run passed (no confirmed message lost,
# every cycle recovered).
set -uo pipefail
cd "$(dirname "$0")/.."

. scripts/setup.sh
rmqlb_setup scripts/soak.sh "the lab creates network namespaces and runs RabbitMQ"

cycles=${CYCLES:-20}
out=${OUT:-/var/tmp/rmqlb-soak-$(date -u +%Y%m%dT%H%MZ)}
runs=${RUNS:-three blog blog-direct}
mkdir -p "$out" || exit 2
echo "== building rmqlb and rmqlb-lab into $out"
go build -o "$out/rmqlb" ./cmd/rmqlb && go build -o "$out/rmqlb-lab" ./cmd/rmqlb-lab || exit 2

interrupted=0
trap 'interrupted=1' INT TERM
status=0
for name in $runs; do
	case $name in
	three) args=(-topology three) ;;
	blog) args=(-topology blog) ;;
	# Faults of rmqlb itself do not touch clients that bypass it.
	blog-direct) args=(-topology blog -direct -faults cut-owner,cut-other,stop-app,freeze-broker,kill-broker) ;;
	*) echo "soak.sh: unknown run $name (three, blog, blog-direct)" >&2; exit 2 ;;
	esac
	echo "== $name: rmqlb-lab -soak -cycles $cycles ${args[*]} $*"
	echo "   started $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime)"
	"$out/rmqlb-lab" -rmqlb "$out/rmqlb" -soak -cycles "$cycles" \
		-json "$out/$name.json" -events "$out/$name.events" -svg "$out/svg-$name" \
		"${args[@]}" "$@" 2>&1 | (
		# tee outlives Ctrl-C, so that the lab can still print while it
		# cleans up (a Go program writing to a closed pipe dies).
		trap '' INT TERM
		exec tee "$out/$name.out"
	)
	rc=${PIPESTATUS[0]}
	echo "   ended $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime); exit status $rc"
	[ "$rc" -eq 0 ] || status=1
	if [ "$interrupted" -ne 0 ]; then
		echo "== interrupted: the remaining runs are skipped"
		exit 1
	fi
done
echo "== figures in $out"
exit "$status"
