package migrate

import (
	"slices"
	"testing"
)

// TestHAProxyServerWithoutPort: a server without a port takes the port of
// the proxy's binds, to which HAProxy connects as the port the client
// connected to, with a note; with binds on several ports it is left out,
// with a note that says why. Every input passes haproxy -c (which wants a
// check port for a checked server without one).
func TestHAProxyServerWithoutPort(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		backends  []string // of each listener, in order; nil: no listener
		notes     []string
	}{
		{"one port", "listen amqp\n bind 10.0.0.100:5672\n bind 10.0.0.101:5672\n server r1 10.0.0.1 check port 5672\n server r2 10.0.0.2\n",
			[]string{"10.0.0.1:5672", "10.0.0.2:5672"}, []string{
				"h:4: server r1 10.0.0.1 check port 5672: note: no port: HAProxy connects to the port the client connected to, which is 5672, the port of the proxy's binds: the backend takes it",
				"h:5: server r2 10.0.0.2: note: no port: HAProxy connects to the port the client connected to, which is 5672",
			}},
		{"several ports", "listen amqp\n bind 10.0.0.100:5672,10.0.0.100:5673\n server r1 10.0.0.1 check port 5672\n server r2 10.0.0.2:5672\n",
			[]string{"10.0.0.2:5672"}, []string{
				"h:3: server r1 10.0.0.1 check port 5672: not translated: has no port, and the proxy's binds listen on 5672 and 5673: HAProxy connects to the port each client connected to, where an rmqlb backend has one port: write the port, or one proxy per port",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, nil)
			c := parseWritten(t, r)
			if len(c.Listeners) == 0 {
				t.Fatalf("no listener written:\n%s", r.YAML)
			}
			for _, l := range c.Listeners {
				var got []string
				for _, b := range l.Backends {
					got = append(got, b.Address.String())
				}
				if !slices.Equal(got, tc.backends) {
					t.Errorf("listener %s: backends %v, want %v\n%s", l.Name, got, tc.backends, r.YAML)
				}
			}
		})
	}
}

// TestHAProxyBindPortRange: a bind's port range becomes a listener for
// each of its ports, with a note, and a server without a port is left out
// beside it (HAProxy connects it at each client's port); a range of more
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
				"h:4: server r2 10.0.0.2: not translated: has no port, and the proxy's binds listen on 5672, 5673 and 5674",
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
