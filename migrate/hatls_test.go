package migrate

import (
	"strings"
	"testing"
)

// A server's no-ssl undoes the ssl of default-server: HAProxy speaks to
// it in clear, so the server is translated, not left out as one HAProxy
// speaks TLS to.
func TestImportNoSSLOverridesDefaultServer(t *testing.T) {
	h := "listen amqp\n bind 10.0.0.100:5672\n default-server ssl verify none\n server r1 10.0.0.1:5672 check no-ssl\n server r2 10.0.0.2:5672 check no-ssl\n"
	c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if len(c.Listeners) != 1 || len(c.Listeners[0].Backends) != 2 {
		t.Fatalf("want listener amqp with r1 and r2\n%s\nnotes:\n%s", y, notesFor(ns, 4)+notesFor(ns, 5))
	}
	if strings.Contains(y, "tls:") {
		t.Errorf("a check in clear speaks TLS:\n%s", y)
	}
}
