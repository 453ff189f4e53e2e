package amqpcheck

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

// keepPipe gives c a kept blocked connection over a pipe and returns the broker's end.
func keepPipe(t *testing.T, c *Check) (broker net.Conn, r *bufio.Reader) {
	t.Helper()
	client, broker := net.Pipe()
	s := &session{conn: client, r: bufio.NewReader(client), cfg: &c.cfg, ctx: context.Background(), max: DefaultMaxFrameSize}
	c.keep(s, Report{Alarm: "low on memory"})
	if rep, ok := c.blocked(); !ok || rep.Alarm != "low on memory" {
		t.Fatalf("kept connection not reported: %+v %v", rep, ok)
	}
	return broker, bufio.NewReader(broker)
}

// TestKeptConnection: the connection kept on a blocked broker is closed with Connection.Close
// / Close-Ok once unblocked, given up when the broker closes it (a restart), and closed by
// Close; each time later checks connect again.
func TestKeptConnection(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, err := New(Config{Addr: netip.MustParseAddrPort("127.0.0.1:5672"), Mode: ModeLogin})
	if err != nil {
		t.Fatal(err)
	}

	broker, r := keepPipe(t, c)
	broker.Write(AppendFrame(nil, Frame{Type: FrameHeartbeat}))
	broker.Write(AppendMethod(nil, 0, ConnectionUnblocked, nil))
	f, err := ReadFrame(r, DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err := ParseMethod(f.Payload); err != nil || id != ConnectionClose {
		t.Fatalf("after Unblocked got %v %v, want Connection.Close", id, err)
	}
	broker.Write(AppendMethod(nil, 0, ConnectionCloseOk, nil))
	waitGone(t, c)
	broker.Close()

	broker, _ = keepPipe(t, c)
	broker.Close() // the broker restarted
	waitGone(t, c)

	broker, _ = keepPipe(t, c)
	c.Close()
	if _, ok := c.blocked(); ok {
		t.Error("kept connection reported after Close")
	}
	broker.Close()
}

func waitGone(t *testing.T, c *Check) {
	t.Helper()
	c.mu.Lock()
	k := c.kept
	c.mu.Unlock()
	if k != nil {
		<-k.done
	}
	if _, ok := c.blocked(); ok {
		t.Fatal("kept connection still reported")
	}
}
