package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadRequest feeds readRequest any bytes a client may send before it
// closes, under any MaxRequest, and checks it against what Server's doc
// comments promise: a line (up to and with its newline, or up to the end)
// longer than MaxRequest is refused as such, whatever it holds; nothing at
// all is no request; any other line is read when it is a Request in JSON,
// and exactly as json.Unmarshal reads it, or refused. It never panics and
// never reads past the line's bound.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"command":"status"}`+"\n"), 64)
	f.Add([]byte(`{"command":"backend","args":["l/b","weight","10"]}`+"\n"+`{"command":"reload"}`+"\n"), 64)
	f.Add([]byte(`{"command":"status"}`), 20)
	f.Add([]byte(`{"command":"status"}`+"\n"), 21)
	f.Add([]byte(`{"command":"status"}`+"\n"), 20)
	f.Add([]byte(`   {"command":"x"}`+"\n"), 1024)
	f.Add([]byte(`{"command":`), 64)
	f.Add([]byte(`null`+"\n"), 64)
	f.Add([]byte(`[1,2]`+"\n"), 64)
	f.Add([]byte("\n"), 1)
	f.Add([]byte{}, 0)
	f.Add([]byte("\xff\xfe\n"), 8)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 {
			max = -max
		}
		max %= 4096 // 0: DefaultMaxRequest
		bound := max
		if bound <= 0 {
			bound = DefaultMaxRequest
		}
		s := &Server{MaxRequest: max}
		srv, cl := net.Pipe()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			cl.Write(data)
			cl.Close()
		}()
		var req Request
		err := s.readRequest(srv, &req)
		srv.Close()
		<-wrote

		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		switch {
		case len(line) > bound:
			if err == nil || !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("a line of %d bytes, MaxRequest %d: %v, %+v", len(line), bound, err, req)
			}
		case len(data) == 0:
			if !errors.Is(err, errNoRequest) {
				t.Fatalf("nothing sent: %v", err)
			}
		default:
			var want Request
			werr := json.Unmarshal(line, &want)
			if (err == nil) != (werr == nil) {
				t.Fatalf("line %q: read %v, json.Unmarshal %v", line, err, werr)
			}
			if err == nil && !reflect.DeepEqual(req, want) {
				t.Fatalf("line %q: read %+v, want %+v", line, req, want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "reading request: ") {
				t.Fatalf("line %q: error %v", line, err)
			}
		}
	})
}
