package migrate

import (
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// kaScript is a vrrp_script, or a vrrp_track_process: its command (the
// process line), its weight, and the statements whose fate depends on
// whether what it checks can be told apart.
type kaScript struct {
	node    *kaNode
	process bool    // a vrrp_track_process
	cmd     *kaNode // script, or process
	weight  int
	reverse bool // "weight W reverse": applied the other way round
	// rest are a script's interval, timeout, rise and fall, or a
	// process's quorum, delays and matching: the check the script
	// becomes has its own schedule.
	rest []*kaNode
}

// processRest are the statements of a vrrp_track_process that go with the
// process, not with what rmqlb tracks instead.
var processRest = []string{"quorum", "quorum_max", "delay", "fork_delay", "terminate_delay", "param_match", "full_command"}

// script records a vrrp_script block; translating it waits until the
// instances that track it and the listeners are known.
func (t *kaT) script(n *kaNode) { t.readScript(n, false) }

// trackProcess records a vrrp_track_process block (keepalived 2's
// tracking of a running process), which is translated as a vrrp_script
// whose command checks that process.
func (t *kaT) trackProcess(n *kaNode) { t.readScript(n, true) }

// readScript records a vrrp_script or, with process, a
// vrrp_track_process.
func (t *kaT) readScript(n *kaNode, process bool) {
	if len(n.args) == 0 {
		t.skip(n, "needs a name")
		return
	}
	s := &kaScript{node: n, process: process}
	t.use(n)
	cmdKey, rest := "script", []string{"interval", "timeout", "rise", "fall"}
	if process {
		cmdKey, rest = "process", processRest
	}
	for _, c := range n.children {
		switch {
		case c.key == cmdKey:
			if len(c.args) == 0 {
				t.skip(c, "needs a "+map[bool]string{false: "command", true: "process name"}[process])
				continue
			}
			s.cmd = c
		case c.key == "weight":
			if len(c.args) > 0 {
				w, err := number(c.args[0], -254, 254)
				if err != nil {
					t.skip(c, err.Error())
					continue
				}
				s.weight = w
				s.reverse = len(c.args) > 1 && c.args[1] == "reverse"
				if s.reverse {
					t.skip(c, "no equivalent: reverse changes the priority the other way round, which rmqlb's track rules cannot do (they lower it while what they track fails); the "+s.noun()+" is not tracked")
					continue
				}
				c.done = true
			}
		case slices.Contains(rest, c.key):
			s.rest = append(s.rest, c)
		}
	}
	if process {
		t.processes[n.args[0]] = s
		return
	}
	t.scripts[n.args[0]] = s
}

// noun is what s checks: "script" or "process".
func (s *kaScript) noun() string {
	if s.process {
		return "process"
	}
	return "script"
}

// block is the keepalived block s comes from.
func (s *kaScript) block() string { return blockName(s.process) }

// blockName is the keepalived block of a script (vrrp_script) or, with
// process, of a tracked process (vrrp_track_process).
func blockName(process bool) string {
	if process {
		return "vrrp_track_process"
	}
	return "vrrp_script"
}

// target is what s checks: the process of a vrrp_track_process (its name,
// or with full_command the program of its command line), or what the
// command of a vrrp_script checks (classify).
func (s *kaScript) target() scriptTarget {
	if s.process {
		return processTarget(path.Base(s.cmd.args[0]))
	}
	return classify(s.cmd.args[0])
}

// targetKind is what a vrrp_script checks.
type targetKind uint8

const (
	// targetUnknown: a command rmqlb import cannot read.
	targetUnknown targetKind = iota
	// targetProxyProcess: the HAProxy process is running.
	targetProxyProcess
	// targetLocalBroker: the RabbitMQ node of this host is running or
	// answers.
	targetLocalBroker
	// targetAddress: something answers on host:port (a broker, a
	// proxy's bind or the management port of a broker).
	targetAddress
)

// scriptTarget is what a vrrp_script's command checks.
type scriptTarget struct {
	kind targetKind
	host string
	port int
}

// Process names of the proxy and the broker.
var (
	proxyProcesses  = map[string]bool{"haproxy": true}
	brokerProcesses = map[string]bool{"beam": true, "beam.smp": true, "rabbitmq-server": true, "rabbitmq": true}
)

// classify reads the common forms of keepalived check scripts: a process
// check (killall -0, pidof, pgrep, systemctl is-active, service ...
// status), a port check (nc -z HOST PORT, bash's /dev/tcp/HOST/PORT), an
// HTTP check (curl, wget) or a RabbitMQ tool (rabbitmqctl,
// rabbitmq-diagnostics).
func classify(cmd string) scriptTarget {
	w := unwrapCommand(shellWords(cmd))
	if len(w) == 0 {
		return scriptTarget{}
	}
	if i := strings.Index(cmd, "/dev/tcp/"); i >= 0 {
		rest := strings.Fields(cmd[i+len("/dev/tcp/"):])
		var parts []string
		if len(rest) > 0 {
			parts = strings.SplitN(rest[0], "/", 2)
		}
		if len(parts) == 2 {
			if port, err := strconv.Atoi(strings.Trim(parts[1], "'\";)")); err == nil {
				return scriptTarget{kind: targetAddress, host: parts[0], port: port}
			}
		}
	}
	base := path.Base(w[0])
	args := w[1:]
	lastWord := func(a []string) string {
		for i := len(a) - 1; i >= 0; i-- {
			if !strings.HasPrefix(a[i], "-") {
				return a[i]
			}
		}
		return ""
	}
	switch base {
	case "killall", "pkill", "pidof", "pgrep":
		return processTarget(lastWord(args))
	case "systemctl":
		if len(args) > 0 && (args[0] == "is-active" || args[0] == "status") {
			return processTarget(lastWord(args[1:]))
		}
	case "service":
		if len(args) == 2 && args[1] == "status" {
			return processTarget(args[0])
		}
	case "rabbitmqctl", "rabbitmq-diagnostics":
		return scriptTarget{kind: targetLocalBroker}
	case "nc", "ncat", "netcat":
		var pos []string
		for i := 0; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-w" || a == "-G" || a == "-i" || a == "-p" || a == "-s" || a == "-q":
				i++
			case !strings.HasPrefix(a, "-"):
				pos = append(pos, a)
			}
		}
		if len(pos) == 2 {
			if port, err := strconv.Atoi(pos[1]); err == nil {
				return scriptTarget{kind: targetAddress, host: pos[0], port: port}
			}
		}
	case "curl", "wget":
		for _, a := range args {
			if !strings.Contains(a, "://") {
				continue
			}
			u, err := url.Parse(a)
			if err != nil || u.Hostname() == "" {
				break
			}
			if port, err := urlPort(u); err == nil {
				return scriptTarget{kind: targetAddress, host: u.Hostname(), port: int(port)}
			}
		}
	}
	if path.Dir(w[0]) == "/etc/init.d" && len(args) == 1 && args[0] == "status" {
		return processTarget(base)
	}
	return scriptTarget{kind: targetUnknown}
}

// processTarget is what checking that the process (or the service) name
// runs checks: the proxy, this host's broker, or something rmqlb import
// does not know.
func processTarget(name string) scriptTarget {
	name = strings.TrimSuffix(name, ".service")
	switch {
	case proxyProcesses[name]:
		return scriptTarget{kind: targetProxyProcess}
	case brokerProcesses[name]:
		return scriptTarget{kind: targetLocalBroker}
	}
	return scriptTarget{}
}

// shellWords splits a command line into words as a shell does for the
// simple commands check scripts are; HAProxy's rules are the shell's
// (blanks, quotes, backslashes, '#'). An unterminated quote gives none.
func shellWords(s string) []string {
	w, _ := splitWords(s)
	return w
}
