package main

import (
	"strconv"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
	"github.com/rmqlb/rmqlb/internal/clidoc"
)

// commands is rmqlb's table of commands, in the order rmqlb help and the
// manual list them. A command exists only here: the dispatcher, the help,
// the manual page and the completions all read this table.
func commands() []command {
	cs := []command{
		{define: defineRun, doc: clidoc.Command{
			Name:    "run",
			Forms:   []string{"[--config FILE] [--log-format console|json] [--takeover-from PATH]"},
			Summary: "run the daemon in the foreground",
			Doc: `Runs the daemon in the foreground, logging to stderr, until SIGTERM or SIGINT.
It takes the single-instance lock of its control socket, removes stale copies of its own VIPs, opens
the control socket and the metrics endpoint, starts the listeners and their health checks and,
once every backend had its first check (15 s at most), the VRRP instances.

On SIGTERM or SIGINT a VRRP master sends priority 0 and removes its VIPs, so that a backup takes
over at once; the listeners stop accepting and let their sessions finish for up to
graceful_timeout. SIGHUP reloads the configuration file, as rmqlb reload does. SIGQUIT writes
every goroutine's stack to stderr and the daemon runs on. Under systemd
($NOTIFY_SOCKET set) the daemon reports ready, reloading and stopping, and keeps a one-line status;
with WatchdogSec= ($WATCHDOG_USEC) it pings the watchdog only while its loops answer (see ENVIRONMENT).`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "stopped by SIGTERM or SIGINT"},
				{Code: 1, Meaning: "the configuration file does not validate, another daemon runs with the same control socket (it is left alone), or the daemon failed"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineCheckConfig, doc: clidoc.Command{
			Name:    "check-config",
			Forms:   []string{"[--config FILE | FILE] [--checks]"},
			Summary: "validate a configuration file",
			Doc: `Validates a configuration file (named by --config or alone) exactly as rmqlb run would, without running anything, and prints
"FILE: ok", or one line per problem on stderr: FILE:LINE: field.path: what is wrong (an unknown key
names the key most likely meant: "unknown key (did you mean policy?)", keepalived's and HAProxy's
names too, or the section that has it: "unknown key (rise is a key of check)"). Warnings (a
password that others may read, a file that others could change or that holds nothing to run, an interface or a listener's
address this host lacks, a notify hook it cannot run, or that others could change) go to stderr and do not fail it.
Of a listener that names a file of client addresses it says how many addresses its list holds and
how many the file gave ("listener amqp allows 1236 client addresses or prefixes, 1234 of them from
/etc/haproxy/allow.lst"). With a state_file it says what a start with this file would make of it: the operator's states it
restores, and those it leaves out with why (a backend removed, or changed since the operator set
its weight; a release that ended, or of another virtual router; an entry it could not have
written), and the fields it ignores (a newer version's, kept in the file while their entry is
unchanged); a state file it cannot read is a warning. With --checks it then runs every backend's health check once from this host, all at the same
time, each within its timeout, and prints a line per check: ok (what answered), warning (it passes,
and the backend would be DEGRADED: a login or client certificate the brokers refuse, an alarm probe
that could not run) or FAILED with the reason; a login one backend's broker refuses while the same
login passed on others of its listener is noted as refused by that node alone (its own fault); a TLS certificate of a check that expires within
30 days (the broker's or the check's own) is noted on its line, and does not fail it. Run it
before a reload that changes a check's credentials, as the daemon's user, which must be able to
read the TLS files.`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "the file is valid (and with --checks, every check passed without a warning)"},
				{Code: 1, Meaning: "the file does not validate or cannot be read, or with --checks a check failed or warned"},
				{Code: 2, Meaning: "wrong command line"},
			},
			Operands: []clidoc.Operand{{Name: "FILE"}},
		}},
		{define: defineStatus, doc: clidoc.Command{
			Name:    "status",
			Forms:   []string{"[--socket PATH | --config FILE] [--json] [--verbose] [--watch [INTERVAL]]"},
			Summary: "show the running daemon's state; exit 0 healthy, 1 degraded, 2 daemon unreachable",
			Doc: `Asks the running daemon for its state and prints it under a one-line verdict: per VRRP
instance its state and why, its priorities, the master it hears and its VIPs (on the interface or
not); per listener its sessions and refusals, and per backend its state, check result (and how
often its checks took it DOWN: a backend that flaps is a fault), weight, sessions and bytes. Under its header it says when the configuration file is not the one the
daemon runs on (changed and not loaded, or unreadable), which its next start would run, and,
after an upgrade in place, that the process replaced still finishes its sessions (which the
listeners do not count) and until when. With
--verbose it also lists the busiest client addresses, the persistence entries, the recent state
changes and, per backend, how many of its sessions ended for each reason (the client's or the
broker's close or reset, a timeout, a move, a shutdown). On a terminal the states are coloured,
unless NO_COLOR is set.

With --json it prints the daemon's answer, one JSON object (its JSON Schema is
control/statusschema/status.schema.json in the source). With --watch it prints the status again
every INTERVAL until SIGINT or SIGTERM, and exits with the code of the last status shown.`,
			Exits: []clidoc.Exit{
				{Code: control.ExitHealthy, Meaning: "healthy"},
				{Code: control.ExitDegraded, Meaning: "degraded: the last reload was refused, a VRRP instance is in FAULT or cannot hold its VIPs, a master's VIP is not on its interface, another router's adverts of an instance's VRID are being dropped (split brain), an instance released is still MASTER (no other router took over), a listener is not listening, has no backend that serves or refuses new clients at its maxconn, a client address holds its maxconn_per_client, or a backend is DOWN or DEGRADED or in another RabbitMQ cluster than the others"},
				{Code: control.ExitUnreachable, Meaning: "the daemon did not answer (not running, wrong socket), or wrong command line"},
			},
		}},
		{define: defineBackend, doc: clidoc.Command{
			Name: "backend",
			Forms: []string{
				"[--socket PATH | --config FILE] LISTENER/BACKEND drain|maint|ready",
				"[--socket PATH | --config FILE] LISTENER/BACKEND weight N|reset",
				"[--socket PATH | --config FILE] LISTENER/BACKEND shutdown-sessions",
				"[--socket PATH | --config FILE] LISTENER/BACKEND move-sessions [--rate N] [--wait]",
			},
			Summary: "set a backend's operator state or weight, or close or move its sessions",
			Doc: `Runs an operator's command on one backend of the running daemon:

  drain              take no new connections, keep the sessions
  maint              out of service (sessions closed per on_marked_down)
  ready              hand the backend back to its checks
  weight N           use weight N (0..` + strconv.Itoa(balancer.MaxWeight) + `) instead of the file's, until weight
                     reset, a reload that changes the backend, or a restart
  weight reset       use the file's weight again
  shutdown-sessions  close the backend's sessions now; it stays in service
  move-sessions      drain the backend and close its sessions N a second
                     (--rate, default ` + strconv.Itoa(daemon.DefaultMoveRate) + `), so that its clients reconnect to
                     the other backends without a storm; refused while no
                     other backend serves, paused while none does

The move runs in the daemon: move-sessions returns once it has begun, and
rmqlb status shows it. With --wait it prints the progress every 5 s and
returns when the backend has no session left (exit 0), or when the move
ended with sessions left (exit 1: the backend left DRAIN or the
configuration, or the daemon stopped or was upgraded); interrupting the
wait leaves the move running.

With state_file in the configuration, drain, maint and an operator's weight
outlive a restart of the daemon too.`,
			Operands: []clidoc.Operand{
				{Name: "LISTENER/BACKEND"},
				{Name: "OPERATION", Words: []string{"drain", "maint", "ready", "weight", "shutdown-sessions", "move-sessions"}},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "done"},
				{Code: 1, Meaning: "the daemon refused (an unknown backend, a weight out of range, no other backend to move the sessions to) or could not be asked; with move-sessions --wait, the move ended with sessions left"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineSessions, doc: clidoc.Command{
			Name: "sessions",
			Forms: []string{
				"[--socket PATH | --config FILE] [--client ADDRESS|PREFIX|ADDRESS:PORT] [--not-allowed] [--limit N] [--json] [LISTENER[/BACKEND]]",
				"[--socket PATH | --config FILE] --shutdown [--client ADDRESS|PREFIX|ADDRESS:PORT] [--not-allowed] [--json] [LISTENER[/BACKEND]]",
			},
			Summary: "list the client sessions of the listeners (who is connected to which broker), or close some",
			Doc: `Asks the running daemon for its client sessions, the way ipvsadm -L -n -c lists LVS's
connections and HAProxy's "show sess" its sessions: per session its listener, backend, client
address, SOURCE (the proxy's address and port on the backend connection: what the broker sees as
its client, as in RabbitMQ's connection name "SOURCE -> BACKEND ADDRESS" and in rabbitmqctl
list_connections peer_host peer_port; with proxy_protocol the broker lists the client itself), the
backend's address, its state (connecting, established, or closing once one side has ended), its
age, how long since a byte last moved, and its bytes in each direction. A LISTENER, or
LISTENER/BACKEND, and --client narrow the list; --not-allowed keeps the sessions of the clients
their listener's allowed_clients leaves out or denied_clients holds (those a reload that changed
the lists kept). The sessions come by listener in the file's order, then by backend, the oldest
first; at most --limit of them, under a line with their count and the total.

With --shutdown it closes the sessions selected instead, every one of them, and prints how many:
a client to move to another broker, or one that misbehaves (RabbitMQ's clients reconnect). A
LISTENER, LISTENER/BACKEND, --client or --not-allowed must select them.`,
			Operands: []clidoc.Operand{
				{Name: "LISTENER[/BACKEND]"},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "listed (none is a list too), or closed"},
				{Code: 1, Meaning: "the daemon refused: no such listener or backend"},
				{Code: control.ExitUnreachable, Meaning: "the daemon did not answer (not running, wrong socket), or wrong command line"},
			},
		}},
		{define: defineClients, doc: clidoc.Command{
			Name:    "clients",
			Forms:   []string{"[--socket PATH | --config FILE] [--limit N] [--json] [LISTENER]"},
			Summary: "list the client addresses of the listeners with their sessions, the busiest first (who holds the connections)",
			Doc: `Asks the running daemon for the client addresses that hold sessions, per listener in the
file's order (a LISTENER narrows it to one): each address with its number of sessions, against the
listener's maxconn_per_client when it has one (AT LIMIT: its new connections are refused), and
NOT ALLOWED where the listener's allowed_clients leaves it out or its denied_clients holds it (a
reload that changed the lists kept its sessions; rmqlb sessions --not-allowed closes them with
--shutdown), the most first, at most --limit of them per listener, under a line per listener with
their count. The listeners count their clients as they accept them, so the answer waits for no
event loop; rmqlb sessions --client ADDRESS lists the sessions of one of them, and closes them with
--shutdown.

An application that leaks connections, or one host that holds more of them than its share, shows
at the top. With --json it prints the daemon's answer, one JSON object (its JSON Schema is
control/statusschema/clients.schema.json in the source).`,
			Operands: []clidoc.Operand{
				{Name: "LISTENER"},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "listed (none is a list too)"},
				{Code: 1, Meaning: "the daemon refused: no such listener"},
				{Code: control.ExitUnreachable, Meaning: "the daemon did not answer (not running, wrong socket), or wrong command line"},
			},
		}},
		{define: defineRebalance, doc: clidoc.Command{
			Name:    "rebalance",
			Forms:   []string{"[--socket PATH | --config FILE] [--rate N] [--wait] LISTENER"},
			Summary: "spread a listener's sessions over its serving backends by weight again",
			Doc: `AMQP connections last for days, so after a broker's restart (or a rolling upgrade of the
cluster) its share of them stays with the others: the last broker restarted holds none. rebalance
asks the running daemon to close sessions of the backends above their share of the listener's
sessions (by weight, among the backends that serve: UP or DEGRADED, at a weight above 0, not a
backup), the furthest above first, --rate a second (default ` + strconv.Itoa(daemon.DefaultMoveRate) + `), so that their clients
reconnect through the VIP and are balanced again, until every serving backend holds its share and
a tenth (and one session) at most. It closes no more while the clients it closed are on their way
back (half the sessions above the shares at its start, at most --rate, at once), and judges the
balance once they are back, or 10 s after its last close. While it runs the listener sends its new
clients to the backend with the fewest sessions for its weight (as leastconn does), whatever its
policy, so that the clients closed reconnect where sessions are missing; it closes at most three
times the sessions above the shares at its start, and ten more. Refused for a
listener with persistence_timeout (its clients would come back to the same backend) and while fewer
than two backends serve; paused, closing none, while fewer do meanwhile.

The rebalance runs in the daemon: the command returns once it has begun, and rmqlb status shows it
under its listener. With --wait it prints the progress every 5 s and returns when it has ended
(exit 0 when balanced, 1 otherwise); interrupting the wait leaves it running.`,
			Operands: []clidoc.Operand{
				{Name: "LISTENER"},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "begun, or balanced already; with --wait, balanced"},
				{Code: 1, Meaning: "the daemon refused (no such listener, persistence, fewer than two backends serve) or could not be asked; with --wait, the rebalance ended without balance"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineReload, doc: clidoc.Command{
			Name:    "reload",
			Forms:   []string{"[--socket PATH | --config FILE] [--dry-run [--file CANDIDATE]] [--json]"},
			Summary: "reload the daemon's configuration file, or show what a reload would do",
			Doc: `Asks the daemon to reload its configuration file, as SIGHUP does, waits for the outcome and
prints what was applied, what needs a restart (with its line in the file: a VRRP instance's
interface, VRID or version, which rmqlb upgrade applies in place, the listeners, their sessions and
the other instances carrying on) and what was refused and why. A file that does not validate is
refused whole and the daemon runs on as it was. The unit's ExecReload runs this command, so that
systemctl reload rmqlb fails when the reload was refused.

--dry-run applies nothing: the daemon reads the file and prints what a reload would apply now, each
change as the reload would list it ("would apply: listener amqp updated") with its effects on what
runs below it: the sessions it closes or keeps (a removed backend's, by on_marked_down; a removed
or moved listener's, within its graceful_timeout or at once on a VIP), the VIPs that leave or join
this host (a MASTER instance removed advertises priority 0 and its VIPs go), a new priority, a
persistence table started afresh, the clients with sessions that new client lists leave out; then
what would need a restart, the changes a reload would refuse that the daemon knows of before it
tries (VIPs swapped between two instances in one reload; a listener's or metrics_listen's new
address that another socket holds now, such as a broker listening on every address at the port:
the dry run binds a socket there and closes it at once, never listening; a control_socket whose
new path another daemon's lock holds, as the kernel's table of locks shows), and the file's warnings. A reload made later
starts from what runs then, and may still refuse a change a dry run lists: a dry run starts no hook
and sends no advert.

--dry-run --file CANDIDATE plans a reload of CANDIDATE in place of the daemon's file, before it is
installed: the daemon reads it (and the files it names) as it would read its own file, and says
what a reload would do if CANDIDATE were installed now. Only root and the daemon's user may ask for
it, as the daemon reads the file with its privileges; a member of the control group installs the
file first and runs --dry-run.

--json prints the daemon's answer as it came, one JSON object (with --dry-run: changes, each with
change and effects; pending; refused; warnings; error when the file would be refused; blocked
when any reload would be now), for configuration management that checks a change before it
applies it; the exit status is the same as without it. JSON Schemas: reload.schema.json and
reloadplan.schema.json in control/statusschema of the source.`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "the file was applied (changes that need a restart are listed); with --dry-run, a reload would take the file"},
				{Code: 1, Meaning: "the file, or a change in it, was refused; with --dry-run, a reload would refuse the file or a change the daemon knows it would refuse (or any reload now: an upgrade under way)"},
				{Code: 2, Meaning: "the daemon cannot be reached, or wrong command line"},
			},
		}},
		{define: defineVRRP, doc: clidoc.Command{
			Name: "vrrp",
			Forms: []string{
				"release [--socket PATH | --config FILE] NAME|--all [--for PERIOD] [--wait [--timeout PERIOD]]",
				"ready [--socket PATH | --config FILE] NAME|--all [--wait [--timeout PERIOD]]",
			},
			Summary: "hand a VRRP instance's VIPs over for planned maintenance, or end that",
			Doc: `release: the planned handover of VRRP instance NAME. A master tells the group it is leaving
(priority 0) but keeps its VIPs and sessions until another router's advert as master is heard,
then removes them: clients never find the VIPs unanswered. The host stays BACKUP, shown in
rmqlb status, for PERIOD, or without --for until rmqlb vrrp ready NAME; it takes the VIPs only
if no other router is left. The release lasts across reloads and upgrades in place; with
state_file in the configuration, across a restart of the daemon too.

release --wait waits until each instance released holds no VIP, having handed them to another
router (at most --timeout, 30s by default), and says to whom and how long it took: a script
stops the broker only once its clients' VIPs have left the host. When no other router takes
over (none runs, each is released too, or this host's adverts do not reach them), the host stays MASTER and keeps the
VIPs, rmqlb status is degraded, and --wait says so with exit 1; the release stays.

ready: NAME is eligible as master again, with its configured priority.

ready --wait waits until each instance is back in the election (at most --timeout, 30s by
default): MASTER holding its VIPs, or BACKUP of a master heard since that it does not preempt
(preemption off, or that master's priority is at least its own), which it then backs up; one
that is to preempt is waited for until it holds the VIPs. It says which, and when the tracks
lower the priority: a rolling maintenance releases the next host only once this one is back.

With --all in place of NAME, every VRRP instance of the daemon: the maintenance of the whole
host. Each is asked even when one fails; the error names those it was applied to.`,
			Operands: []clidoc.Operand{
				{Name: "SUBCOMMAND", Words: []string{"release", "ready"}},
				{Name: "NAME"},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "the daemon applied it; with release --wait, every instance released has handed its VIPs over; with ready --wait, every instance is back in the election"},
				{Code: 1, Meaning: "the daemon refused (no such instance) or could not be asked; with release --wait, an instance still held VIPs at the timeout, or was no longer released; with ready --wait, an instance was not back at the timeout (FAULT, no master heard, a preemption still to come), or was released again"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineNotify, doc: clidoc.Command{
			Name:    "notify",
			Forms:   []string{"[--socket PATH | --config FILE] NAME master|backup|fault|stop"},
			Summary: "run a VRRP instance's notify hook once, to test it",
			Doc: `Asks the daemon to run the notify hook of VRRP instance NAME for that state once, as it would
on that state change: as the daemon's user, in its service unit's sandbox, with its environment and
timeout, and refused when others could change the hook. RMQLB_PREV_STATE is the instance's state
now, RMQLB_REASON "a test run by the operator (rmqlb notify)". Nothing else happens: the instance
keeps its state and VIPs. The run waits behind the hooks of the instance's own state changes, and
is not counted in rmqlb status or the metrics. Prints the outcome and the hook's output (as
logged: at most 100 lines). Run it after installing or migrating a hook: a script written for
keepalived, run as root, may fail as the daemon's user.`,
			Operands: []clidoc.Operand{
				{Name: "NAME"},
				{Name: "STATE", Words: []string{"master", "backup", "fault", "stop"}},
			},
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "the hook exited with status 0"},
				{Code: 1, Meaning: "the hook failed, timed out or was not run (unsafe, none for that state), or the daemon refused or could not be asked"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineUpgrade, doc: clidoc.Command{
			Name:    "upgrade",
			Forms:   []string{"[--socket PATH | --config FILE] [--binary PATH] [--json]"},
			Summary: "replace the running daemon by a new program without moving a VIP or refusing a client",
			Doc: `Asks the running daemon to start the new program (by default its own executable's path, where a
package upgrade has put the new binary) with run --takeover-from SOCKET. The new process takes over the
single-instance lock, the control socket, the metrics socket and every listening socket (open files
passed over the control socket), the backends' states, operator states, weights and persistence
entries; once its listeners serve, the old process stops accepting and stops its VRRP instances
without a priority-0 advert, and the new one advertises on in the same states: the VIPs stay, the
peers see no transition, and no client is refused. Under systemd the unit follows the new main
process. The old process finishes its established sessions, up to each listener's
graceful_timeout (closing those still open evenly over its last close_spread, so that their
clients reconnect to the new process a few at a time), and exits.

If the new program fails before it has taken over (a configuration it refuses, a port it cannot
bind, a crash), it is stopped and the running daemon serves on as before; the reason is printed.
The answer comes once the new process serves the control socket; should it exit after the
hand-over and before that, the old process removes the VIPs (a backup takes over), finishes its
sessions and exits, and the upgrade fails: start rmqlb again.`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "the new process took over"},
				{Code: 1, Meaning: "the upgrade failed and the running daemon serves on; or the new process exited after the hand-over, before it served, and the old one removed the VIPs; or the daemon could not be asked"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineRemoveStale, doc: clidoc.Command{
			Name:    "remove-stale",
			Forms:   []string{"[--config FILE]"},
			Summary: "remove the VIPs a daemon that no longer runs left on the interfaces",
			Doc: `Removes the VIPs that carry rmqlb's marker from their instances' interfaces, as a starting daemon
does: those a daemon that was killed or crashed could not remove, and that would answer ARP beside
the new master until a daemon starts again. The VIPs are those the daemon of the file last ran,
which it records beside its control socket (SOCKET.vips), so that a file edited since (one that no
longer loads, an interface change waiting for a restart) does not change them; without that record,
those of the file, read without the files it names (a list of client addresses or a check's TLS
file gone with the daemon does not keep its VIPs on the interface). It first makes sure no daemon runs (none answers on the control socket, and it
takes the single-instance lock), so it never touches the VIPs of a daemon that runs. The unit runs
it after the daemon ended (ExecStopPost), so that a daemon that cannot be started again (a start
limit, a broken file) leaves no VIP behind. A VIP that can carry no marker on this kernel (an IPv6
VIP before Linux 6.3) cannot be told from someone else's and is left alone.`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "every stale VIP was removed (or there was none)"},
				{Code: 1, Meaning: "a daemon runs with this control socket (nothing was touched), there is no record and the file does not validate, or a VIP could not be removed"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: defineImport, doc: clidoc.Command{
			Name:    "import",
			Forms:   []string{"[--keepalived FILE] [--haproxy FILE] [--ipvsadm FILE]"},
			Summary: "translate keepalived, LVS and HAProxy files into an rmqlb configuration file (stdout)",
			Doc: `Translates a keepalived.conf (and the files it includes), an haproxy.cfg and the output of
ipvsadm -Sn (any one will do) into an rmqlb configuration file on stdout, and lists on stderr every
directive not translated as written, with its file, line and why, then the file's warnings: those
of any host, and those of its notify hooks on this one (a script rmqlb would not run, being one that
others could change). The file is printed only when it validates.`,
			Exits: []clidoc.Exit{
				{Code: 0, Meaning: "a valid file was printed, even with directives not translated"},
				{Code: 1, Meaning: "an input cannot be read, or the file would not validate"},
				{Code: 2, Meaning: "wrong command line"},
			},
		}},
		{define: noFlags(cmdVersion), doc: clidoc.Command{
			Name:    "version",
			Forms:   []string{""},
			Summary: "print the version",
			Doc: `Prints rmqlb's version, set when it was built (a build from a git checkout without one is
"dev" with the revision Go recorded, "dev+7047b502956a", and "-modified" for a tree with changes: the
daemon reports the same in rmqlb status and rmqlb_build_info; rmqlb_build_info has the Go release
too).`,
		}},
		{define: defineVRRPSender, internal: true, doc: clidoc.Command{
			Name:    daemon.SenderSubcommand,
			Forms:   []string{"[--rt-priority N]"},
			Summary: "internal: the VRRP advert sender process the daemon starts (vrrp_sender: process)",
			Doc: `Started by rmqlb run with one end of a socket pair as descriptor 3: sends the periodic
adverts of the daemon's VRRP masters on the raw sockets the daemon passes to it, until the daemon
closes the socket pair. Not for running by hand.`,
		}},
		{define: defineHelp, doc: clidoc.Command{
			Name:    "help",
			Forms:   []string{"[COMMAND]"},
			Summary: "list the commands, or describe one with its flags and exit status",
			Doc: `Prints the list of commands, or a command's forms, description, flags and exit status (as
rmqlb COMMAND -h does, on stderr).`,
		}},
	}
	// help's operand is any command's name.
	help := clidoc.Operand{Name: "COMMAND"}
	for _, c := range cs {
		if !c.internal {
			help.Words = append(help.Words, c.doc.Name)
		}
	}
	for i := range cs {
		if cs[i].doc.Name == "help" {
			cs[i].doc.Operands = []clidoc.Operand{help}
		}
	}
	return cs
}
