package control

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/notify"
)

// TestFormatNotify: an instance's notify hooks get a line with what is
// configured, the counters and the last failure; in JSON under "notify".
func TestFormatNotify(t *testing.T) {
	s := fixture()
	s.VRRP[0].Notify = &notify.Snapshot{Configured: []string{"master", "stop"}, Runs: 4, Failures: 1, Dropped: 2,
		LastError: "running notify master hook /x: exit status 3", LastErrorAt: s.Now.Add(-5 * time.Second)}
	var b bytes.Buffer
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "notify rabbitmq: master stop; runs 4, failures 1, dropped 2, queued 0; last failure 5s ago: running notify master hook /x: exit status 3"
	if !strings.Contains(b.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"notify":{"configured":["master","stop"],"runs":4,"failures":1,"dropped":2`) {
		t.Errorf("JSON: %s", raw)
	}
	// Without hooks: no line, no key.
	b.Reset()
	if err := Format(&b, fixture(), FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "notify") {
		t.Errorf("a line for no hooks:\n%s", b.String())
	}
	if raw, _ := json.Marshal(fixture()); strings.Contains(string(raw), `"notify"`) {
		t.Errorf("JSON has notify without hooks: %s", raw)
	}
}
