package migrate

import (
	"slices"
	"testing"
)

// TestHAProxyServerWithoutPort: a server without a port takes the port of
// the proxy's binds, to which HAProxy connects as the port the client
// connected to, with a note, and so does one whose port is an offset
// (+N, -N), offset; with binds on several ports the proxy is a listener
// for each port (in the order the ports first appear), whose servers
// without a port take it, offset, and a server with a port, or a check
// port, keeps it. An offset that makes no port leaves the server out of
// that listener. Every input passes haproxy -c (which wants a check port
// for a checked server without one).
func TestHAProxyServerWithoutPort(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		binds     []string
		backends  [][]string // of each listener, in order
		notes     []string
	}{
		{"one port", "listen amqp\n bind 10.0.0.100:5672\n bind 10.0.0.101:5672\n server r1 10.0.0.1 check port 5672\n server r2 10.0.0.2\n",
			[]string{"10.0.0.100:5672", "10.0.0.101:5672"},
			[][]string{{"10.0.0.1:5672", "10.0.0.2:5672"}, {"10.0.0.1:5672", "10.0.0.2:5672"}}, []string{
				"h:4: server r1 10.0.0.1 check port 5672: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672: the backend takes 5672",
				"h:5: server r2 10.0.0.2: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672",
			}},
		{"several ports", "listen amqp\n bind 10.0.0.100:5672,10.0.0.100:5673\n server r1 10.0.0.1 check port 5672\n server r2 10.0.0.2:5672\n",
			[]string{"10.0.0.100:5672", "10.0.0.100:5673"},
			[][]string{{"10.0.0.1:5672", "10.0.0.2:5672"}, {"10.0.0.1:5673", "10.0.0.2:5672"}}, []string{
				"h:3: server r1 10.0.0.1 check port 5672: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672 and 5673: a listener for each port, whose backends take it (each balances and counts maxconn on its own)",
			}},
		{"binds by port", "listen amqp\n bind 10.0.0.100:5672\n bind 10.0.0.100:15672\n bind 10.0.0.101:5672\n server r1 10.0.0.1 check port 5672\n server r2 10.0.0.2 check port 5672\n",
			[]string{"10.0.0.100:5672", "10.0.0.101:5672", "10.0.0.100:15672"},
			[][]string{{"10.0.0.1:5672", "10.0.0.2:5672"}, {"10.0.0.1:5672", "10.0.0.2:5672"}, {"10.0.0.1:15672", "10.0.0.2:15672"}}, []string{
				"h:5: server r1 10.0.0.1 check port 5672: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672 and 15672",
				"h:6: server r2 10.0.0.2 check port 5672: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672 and 15672",
			}},
		{"an offset", "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:+1000 check port 5672\n server r2 10.0.0.2:+0 check port 5672\n",
			[]string{"10.0.0.100:5672"},
			[][]string{{"10.0.0.1:6672", "10.0.0.2:5672"}}, []string{
				"h:3: server r1 10.0.0.1:+1000 check port 5672: note: port +1000: HAProxy connects to the port the client connected to plus 1000, and the proxy's binds listen on 5672: the backend takes 6672",
				"h:4: server r2 10.0.0.2:+0 check port 5672: note: port +0: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672: the backend takes 5672",
			}},
		{"offsets on several ports", "listen amqp\n bind 10.0.0.100:5672,10.0.0.100:5671\n server r1 10.0.0.1:-1 check port 5672\n server r2 10.0.0.2:-5671 check port 5672\n",
			[]string{"10.0.0.100:5672", "10.0.0.100:5671"},
			[][]string{{"10.0.0.1:5671", "10.0.0.2:1"}, {"10.0.0.1:5670"}}, []string{
				"h:3: server r1 10.0.0.1:-1 check port 5672: note: port -1: HAProxy connects to the port the client connected to minus 1, and the proxy's binds listen on 5672 and 5671: a listener for each port, whose backends take it minus 1",
				"h:4: server r2 10.0.0.2:-5671 check port 5672: not translated: port -5671: HAProxy connects to the port the client connected to, 5671 here, offset by -5671: 0 is no port",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, nil)
			c := parseWritten(t, r)
			var binds []string
			var backends [][]string
			for _, l := range c.Listeners {
				binds = append(binds, l.Bind.String())
				var got []string
				for _, b := range l.Backends {
					got = append(got, b.Address.String())
				}
				backends = append(backends, got)
			}
			if !slices.Equal(binds, tc.binds) || !slices.EqualFunc(backends, tc.backends, slices.Equal) {
				t.Errorf("listeners bound to %v with backends %v, want %v with %v\n%s", binds, backends, tc.binds, tc.backends, r.YAML)
			}
		})
	}
}

// TestHAProxyBindPortRange: a bind's port range becomes a listener for
// each of its ports, with a note, and a server without a port beside it
// takes each listener's port (HAProxy connects it at each client's port); a range of more
// ports than the import makes listeners of is left out with a note. Every
// input passes haproxy -c.
func TestHAProxyBindPortRange(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		binds     []string
		notes     []string
	}{
		{"a range", "listen amqp\n bind 10.0.0.100:5672-5674\n server r1 10.0.0.1:5672\n server r2 10.0.0.2\n",
			[]string{"10.0.0.100:5672", "10.0.0.100:5673", "10.0.0.100:5674"}, []string{
				"h:2: bind 10.0.0.100:5672-5674: note: a range of 3 ports: a listener for each, as HAProxy listens on each",
				"h:4: server r2 10.0.0.2: note: no port: HAProxy connects to the port the client connected to, and the proxy's binds listen on 5672, 5673 and 5674: a listener for each port",
			}},
		{"IPv6 and a range beside a port", "listen amqp\n bind [fd00::100]:5672-5673,10.0.0.100:5671\n server r1 10.0.0.1:5672\n",
			[]string{"[fd00::100]:5672", "[fd00::100]:5673", "10.0.0.100:5671"}, []string{
				"h:2: bind [fd00::100]:5672-5673: note: a range of 2 ports: a listener for each",
			}},
		{"too many ports", "listen amqp\n bind 10.0.0.100:5672-5700\n bind 10.0.0.100:5701\n server r1 10.0.0.1:5672\n",
			[]string{"10.0.0.100:5701"}, []string{
				"h:2: bind 10.0.0.100:5672-5700: not translated: a range of 29 ports: the import makes a listener of each of at most 16: write the ports the brokers' clients use",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, nil)
			var binds []string
			for _, l := range parseWritten(t, r).Listeners {
				binds = append(binds, l.Bind.String())
			}
			if !slices.Equal(binds, tc.binds) {
				t.Errorf("listeners bound to %v, want %v\n%s", binds, tc.binds, r.YAML)
			}
		})
	}
}
