package migrate

import (
	"net/url"
	"path"
	"strconv"
	"strings"
)

// kaScript is a vrrp_script: its command and weight, and the statements
// whose fate depends on whether the command can be told apart.
type kaScript struct {
	node    *kaNode
	cmd     *kaNode
	weight  int
	reverse bool // "weight W reverse": applied the other way round
	// rest are interval, timeout, rise and fall: the check the script
	// becomes has its own schedule.
	rest []*kaNode
}

// script records a vrrp_script block; translating it waits until the
// instances that track it and the listeners are known.
func (t *kaT) script(n *kaNode) {
	if len(n.args) == 0 {
		t.skip(n, "needs a name")
		return
	}
	s := &kaScript{node: n}
	t.use(n)
	for _, c := range n.children {
		switch c.key {
		case "script":
			if len(c.args) == 0 {
				t.skip(c, "needs a command")
				continue
			}
			s.cmd = c
		case "weight":
			if len(c.args) > 0 {
				w, err := number(c.args[0], -254, 254)
				if err != nil {
					t.skip(c, err.Error())
					continue
				}
				s.weight = w
				s.reverse = len(c.args) > 1 && c.args[1] == "reverse"
				if s.reverse {
					t.skip(c, "no equivalent: reverse changes the priority the other way round, which rmqlb's track rules cannot do (they lower it while what they track fails); the script is not tracked")
					continue
				}
				c.done = true
			}
		case "interval", "timeout", "rise", "fall":
			s.rest = append(s.rest, c)
		}
	}
	t.scripts[n.args[0]] = s
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
	w := shellWords(cmd)

	// Unwrap "sh -c '...'" and "timeout N ...".
	for len(w) > 0 {
		base := path.Base(w[0])
		switch {
		case (base == "sh" || base == "bash") && len(w) > 2 && w[1] == "-c":
			w = shellWords(strings.Join(w[2:], " "))
			continue
		case base == "timeout" && len(w) > 2:
			w = w[2:]
			continue
		}
		break
	}
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
	process := func(name string) scriptTarget {
		name = strings.TrimSuffix(name, ".service")
		switch {
		case proxyProcesses[name]:
			return scriptTarget{kind: targetProxyProcess}
		case brokerProcesses[name]:
			return scriptTarget{kind: targetLocalBroker}
		}
		return scriptTarget{}
	}
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
		return process(lastWord(args))
	case "systemctl":
		if len(args) > 0 && (args[0] == "is-active" || args[0] == "status") {
			return process(lastWord(args[1:]))
		}
	case "service":
		if len(args) == 2 && args[1] == "status" {
			return process(args[0])
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
			port := map[string]int{"http": 80, "https": 443}[u.Scheme]
			if p := u.Port(); p != "" {
				port, _ = strconv.Atoi(p)
			}
			if port > 0 {
				return scriptTarget{kind: targetAddress, host: u.Hostname(), port: port}
			}
		}
	}
	if path.Dir(w[0]) == "/etc/init.d" && len(args) == 1 && args[0] == "status" {
		return process(base)
	}
	return scriptTarget{kind: targetUnknown}
}

// shellWords splits a command line into words as a shell does for the
// simple commands check scripts are; HAProxy's rules are the shell's
// (blanks, quotes, backslashes, '#'). An unterminated quote gives none.
func shellWords(s string) []string {
	w, _ := splitWords(s)
	return w
}
