package healthcheck

import (
	"net"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
)

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

// bid names backend name of a listener "l".
func bid(name string) backend.ID { return backend.ID{Listener: "l", Name: name} }
