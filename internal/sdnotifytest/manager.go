package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Wait bounds, in real time, how long Next waits for a datagram.
const Wait = 10 * time.Second

// Message is one datagram: its KEY=VALUE lines in order.
type Message []string

// Get returns the value of key, or "" and false.
func (m Message) Get(key string) (string, bool) {
	for _, l := range m {
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Has reports whether m has the line kv ("READY=1").
func (m Message) Has(kv string) bool { return slices.Contains(m, kv) }

// Lifecycle reports whether m says more than STATUS=: READY, RELOADING,
// STOPPING and the like.
func (m Message) Lifecycle() bool {
	return slices.ContainsFunc(m, func(l string) bool { return !strings.HasPrefix(l, "STATUS=") })
}

// Manager is a fake service manager. A goroutine reads its socket into a
// buffered channel until the test ends (Listen registers the cleanup that
// stops it, closes the socket and waits for it), even when the channel is
// full.
type Manager struct {
	// Path is the socket: the value for $NOTIFY_SOCKET.
	Path string
	msgs chan Message
}

// Listen makes a Manager whose socket is in dir (the test's temporary
// directory when dir is ""). The socket file is mode 0666, as systemd's
// own, so that a daemon running as another user can send to it when dir
// lets that user in.
func Listen(t testing.TB, dir string) *Manager {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		c.Close()
		t.Fatal(err)
	}
	m := &Manager{Path: path, msgs: make(chan Message, 1000)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(m.msgs)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case m.msgs <- Message(strings.Split(string(buf[:n]), "\n")):
			case <-stop: // the channel is full and nobody reads it any more
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		c.Close()
		<-done
		os.Remove(path)
	})
	return m
}

// Env is the environment entry that points a daemon at m.
func (m *Manager) Env() string { return "NOTIFY_SOCKET=" + m.Path }

// Messages is the channel of datagrams, for a test that selects on it.
func (m *Manager) Messages() <-chan Message { return m.msgs }

// Next returns the next datagram; it fails the test after Wait.
func (m *Manager) Next(t testing.TB) Message {
	t.Helper()
	select {
	case msg, ok := <-m.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return msg
	case <-time.After(Wait):
		t.Fatalf("no notification within %v", Wait)
		return nil
	}
}

// NextLifecycle returns the next datagram that says more than STATUS=. It
// fails the test on a STATUS= line in between for which ok is false (nil
// accepts any).
func (m *Manager) NextLifecycle(t testing.TB, ok func(status string) bool) Message {
	t.Helper()
	for {
		msg := m.Next(t)
		if msg.Lifecycle() {
			return msg
		}
		if s, _ := msg.Get("STATUS"); ok != nil && !ok(s) {
			t.Fatalf("status %q", s)
		}
	}
}

// Drain returns every datagram sent to m before the call: it sends a
// marker of its own and reads up to it.
func (m *Manager) Drain(t testing.TB) []Message {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: m.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const marker = "X-SDNOTIFYTEST-MARKER=1"
	if _, err := c.Write([]byte(marker)); err != nil {
		t.Fatal(err)
	}
	var out []Message
	for {
		msg := m.Next(t)
		if msg.Has(marker) {
			return out
		}
		out = append(out, msg)
	}
}
