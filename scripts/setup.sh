# Sourced by scripts/test.sh and scripts/demo.sh: the set-up both need on a
# fresh Debian 12 machine. Call rmqlb_setup WHO WHY, where WHO names the
# calling script and WHY says what needs root.
#
# It checks for root and Go 1.26 (on PATH or in /usr/local/go), puts the
# system directories on PATH (a root shell of some distributions lacks
# /usr/sbin and /sbin, where ip, bridge, sysctl, keepalived and haproxy
# live), installs with apt-get what the tests and the lab run for real
# (RabbitMQ, keepalived, HAProxy, iproute2, tcpdump, iperf3), systemd's
# systemd-analyze (the unit file's check) and util-linux's setpriv (the
# daemon run as an unprivileged user), groff, man-db and zsh (the checks
# of the manual page and of the completion scripts), Prometheus's promtool
# (the checks of the alerting rules), and the C toolchain the race
# detector needs, and stops (under systemd also disables) the services the
# packages start: the tests and the lab start their own processes.
rmqlb_setup() {
	local who=$1 why=$2
	if [ "$(id -u)" -ne 0 ]; then
		echo "$who: run as root ($why)" >&2
		exit 2
	fi
	local d
	for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /usr/local/go/bin; do
		case ":$PATH:" in
		*":$d:"*) ;;
		*) PATH="$PATH:$d" ;;
		esac
	done
	export PATH
	command -v go >/dev/null || { echo "$who: Go 1.26 is required (go.mod), none on PATH" >&2; exit 2; }

	export DEBIAN_FRONTEND=noninteractive
	echo "== installing RabbitMQ, keepalived, HAProxy, iproute2, nftables, tcpdump, iperf3, gcc (apt-get)"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		rabbitmq-server keepalived haproxy iproute2 nftables tcpdump iperf3 procps psmisc ca-certificates \
		systemd util-linux groff-base man-db zsh prometheus gcc libc6-dev >/dev/null
	# Stopped and, under systemd, disabled, so that a reboot does not start
	# them again; both are no-ops for a service already so.
	local s
	for s in rabbitmq-server keepalived haproxy prometheus; do
		if [ -d /run/systemd/system ]; then
			systemctl disable --now "$s" >/dev/null 2>&1 || true
		fi
		service "$s" stop >/dev/null 2>&1 || true
	done
	export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
}
