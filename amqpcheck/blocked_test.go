package amqpcheck

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

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

// TestKeptConnectionStillLogsIn: while the Check keeps a blocked connection, a check still
// logs in on a connection of its own, without the alarm probe (Start-Ok, Tune-Ok, Open, then
// Close: no channel, no publish), and reports the kept connection's alarm when it passes.
func TestKeptConnectionStillLogsIn(t *testing.T) {
	start := goldenStart(t)
	got := make(chan []MethodID, 1)
	srv := startFake(t, func(c net.Conn) {
		defer c.Close()
		var ids []MethodID
		defer func() { got <- ids }()
		if !readHeader(c) {
			return
		}
		c.Write(start)
		r := bufio.NewReader(c)
		for {
			f, err := ReadFrame(r, DefaultMaxFrameSize)
			if err != nil {
				return
			}
			if f.Type != FrameMethod {
				continue
			}
			id, _, err := ParseMethod(f.Payload)
			if err != nil {
				return
			}
			ids = append(ids, id)
			switch id {
			case ConnectionStartOk:
				c.Write(AppendMethod(nil, 0, ConnectionTune, TuneOkArgs(Tune{ChannelMax: 2047, FrameMax: DefaultMaxFrameSize, Heartbeat: 60})))
			case ConnectionTuneOk:
			case ConnectionOpen:
				c.Write(AppendMethod(nil, 0, ConnectionOpenOk, []byte{0}))
			case ConnectionClose:
				c.Write(AppendMethod(nil, 0, ConnectionCloseOk, nil))
				return
			default:
				return // the probe (Channel.Open): no answer
			}
		}
	})
	c, err := New(Config{Addr: srv.addr(), Mode: ModeLogin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker, _ := keepPipe(t, c)
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rep, err := c.Run(ctx)
	if err != nil || rep.Alarm != "low on memory" {
		t.Errorf("check beside a kept blocked connection: %+v %v, want a pass with its alarm", rep, err)
	}
	want := []MethodID{ConnectionStartOk, ConnectionTuneOk, ConnectionOpen, ConnectionClose}
	select {
	case ids := <-got:
		if !slices.Equal(ids, want) {
			t.Errorf("the broker read %v, want %v", ids, want)
		}
	case <-time.After(2 * time.Second):
		t.Error("the check did not connect to the broker")
	}
}
