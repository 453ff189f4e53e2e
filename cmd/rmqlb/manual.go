package main

import "github.com/rmqlb/rmqlb/internal/clidoc"

// introDoc opens rmqlb's help and is the manual's DESCRIPTION.
const introDoc = `rmqlb replaces keepalived, LVS and HAProxy in front of a RabbitMQ cluster. It runs on every
broker host: it speaks VRRP (versions 2 and 3, with keepalived on the same virtual router) to own
virtual IP addresses, adds them to the interface and announces them with gratuitous ARP, proxies
AMQP connections on them to the brokers, and checks the brokers with an AMQP handshake.

rmqlb run is the daemon. status, backend and reload ask it over its control socket: --socket PATH
(default /run/rmqlb/rmqlb.sock), or the control_socket of --config FILE.`

// helpFooter ends rmqlb's help.
const helpFooter = `rmqlb help COMMAND (or rmqlb COMMAND -h) describes a command, its flags and its exit status;
man 8 rmqlb has it all.`

// manSections are the manual's sections after the commands.
var manSections = []clidoc.Section{
	{Title: "Signals", Body: `Signals of the daemon (rmqlb run):`, Items: []clidoc.Item{
		{Term: "SIGHUP", Text: `Reload the configuration file, as rmqlb reload does: a file that does not validate is
refused and the daemon runs on as it was. A SIGHUP while the daemon starts waits until it is ready.`},
		{Term: "SIGTERM, SIGINT", Text: `Stop: a VRRP master sends priority 0 and removes its VIPs (a backup
takes over at once), the listeners stop accepting and let their sessions finish for up to
graceful_timeout, then the daemon exits 0. A reload asked for meanwhile is refused. A second
SIGTERM or SIGINT stops the process at once; the next start removes the VIPs it left that carry
rmqlb's marker.`},
	}},
	{Title: "Configuration", Body: `One YAML file, /etc/rmqlb/rmqlb.yaml unless --config names another. Its top-level keys are
control_socket, control_group, log_level, vrrp_rt_priority, vrrp_sender, metrics_listen,
vrrp_instances, listeners and inert; a file needs at least one VRRP instance or listener, unless it
says inert: true (and has neither): the daemon then runs, holds no address, sends no VRRP or ARP and
proxies nothing. Durations are Go
durations (100ms, 1s, 1m30s); unknown keys are errors. rmqlb check-config validates a file.

A host that owns the VIP 192.0.2.100 with VRRPv3 and proxies AMQP on it to three brokers:

  vrrp_instances:
    - name: rabbitmq
      interface: eth0
      virtual_router_id: 51
      priority: 150
      version: 3
      virtual_ipaddress: [192.0.2.100/24]
  listeners:
    - name: rabbitmq
      bind: 192.0.2.100:5672
      check: {type: amqp, mode: handshake}
      backends:
        - {name: rmq1, address: 192.0.2.1:5672}
        - {name: rmq2, address: 192.0.2.2:5672}
        - {name: rmq3, address: 192.0.2.3:5672}

Every key, its default and its meaning are in README.md, "Configuration" (installed as
/usr/share/doc/rmqlb/README.md); a commented example is /usr/share/doc/rmqlb/examples/rmqlb.yaml.`},
	{Title: "Environment", Items: []clidoc.Item{
		{Term: "NOTIFY_SOCKET", Text: `Set by systemd for a Type=notify unit: the daemon reports ready, reloading,
stopping and a one-line status to it (sd_notify).`},
		{Term: "WATCHDOG_USEC, WATCHDOG_PID", Text: `Set by systemd with WatchdogSec= (30s in the unit):
the daemon pings the watchdog (WATCHDOG=1) every quarter of that interval, each time only once every
listener's event loops, every VRRP instance, the health checks and its main loop have answered through
their own loops. A part that does not answer within a quarter of the interval is logged at error
level (part=...). When no ping came for the whole interval, systemd kills the daemon with SIGABRT: the
journal has "Watchdog timeout" and the stack of every goroutine (journalctl -u rmqlb), the unit's
ExecStopPost removes the VIPs it held and Restart= starts it again. WatchdogSec=0 in a drop-in
(systemctl edit rmqlb) turns it off. The new process of an upgrade pings in place of the old one.`},
		{Term: "NO_COLOR", Text: `Set to anything but the empty string: rmqlb status paints nothing, even on
a terminal.`},
	}},
	{Title: "Files", Items: []clidoc.Item{
		{Term: "/etc/rmqlb/rmqlb.yaml", Text: `The configuration file. The package installs it inert;
it is owned by root and readable by the group rmqlb (root:rmqlb, mode 0640), as the daemon runs as
the user rmqlb and never writes it.`},
		{Term: "/run/rmqlb/rmqlb.sock", Text: `The control socket (control_socket): mode 0600, and only root
and the daemon's user are answered; with control_group, mode 0660 owned by that group, and its
members are answered too. The daemon, run as the user rmqlb, can give the socket only to a group it
is a member of (usermod -aG GROUP rmqlb, or SupplementaryGroups=GROUP in a drop-in of the unit,
then a restart): otherwise the start fails, and a reload refuses the change (EPERM).`},
		{Term: "/run/rmqlb/rmqlb.sock.lock", Text: `The single-instance lock of the daemon of that control
socket.`},
		{Term: "/lib/systemd/system/rmqlb.service", Text: `The systemd unit: the daemon as the user rmqlb
with CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE. The package neither enables nor starts
it: systemctl enable --now rmqlb, once the configuration is written.`},
		{Term: "/usr/share/doc/rmqlb/examples/rmqlb.yaml", Text: `A commented example configuration.`},
	}},
	{Title: "See also", Body: `systemctl(1), journalctl(1), keepalived(8), haproxy(1), ipvsadm(8);
/usr/share/doc/rmqlb/README.md: installation, every configuration key, what rmqlb does when things
go wrong, the metrics and the migration from keepalived, LVS and HAProxy.`},
}
