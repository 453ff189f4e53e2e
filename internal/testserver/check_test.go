package testserver

import (
	"slices"
	"strings"
	"testing"
)

// race is a report of the plugins' shutdown race as RabbitMQ 3.10.8 logs
// it, ended by an info line.
const race = `2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>     supervisor: {<0.863.0>,amqp_channel_sup_sup}
2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>     errorContext: shutdown_error
2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>     reason: shutdown
2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>     offender: [{nb_children,2},
2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>                {id,channel_sup},
2026-12-07 05:12:58.454504+00:00 [error] <0.863.0>                {child_type,supervisor}]
2026-12-07 05:12:58.455001+00:00 [info] <0.860.0> closing MQTT connection <0.860.0> (127.0.0.1:44476 -> 127.0.0.1:32200)
`

// TestBrokerWarnings: what a test of a check against a real node lets
// pass of the broker's log, and what fails it.
func TestBrokerWarnings(t *testing.T) {
	warning := "2026-12-07 05:12:59.000001+00:00 [warning] <0.817.0> AMQP 0-9-1 client call timeout was 70000 ms, is updated to a safe effective value of 130000 ms\n"
	// The same report from another process at the same time.
	otherRace := strings.ReplaceAll(race, "<0.863.0>", "<0.901.0>")
	// A supervisor report of another supervisor.
	otherSup := strings.ReplaceAll(race, "amqp_channel_sup_sup", "rabbit_mqtt_connection_sup")
	info := "2026-12-07 05:12:58.000001+00:00 [info] <0.860.0> accepting MQTT connection <0.860.0> (127.0.0.1:44476 -> 127.0.0.1:32200)\n"
	for _, tc := range []struct {
		name       string
		log        string
		raced      int   // lines of the report let pass
		unexpected []int // lines of each report that fails a test
	}{
		{"info lines only", info + info, 0, nil},
		{"a race", info + race, 6, nil},
		{"two races", race + otherRace, 6, []int{6}},
		{"a warning", warning, 0, []int{1}},
		{"a race and a warning", warning + race + warning, 6, []int{1, 1}},
		{"another supervisor", otherSup, 0, []int{6}},
		{"a cut line", race[:40], 0, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raced, unexpected := brokerWarnings(tc.log)
			if len(raced) != tc.raced {
				t.Errorf("let pass %q, want %d lines", raced, tc.raced)
			}
			var lens []int
			for _, r := range unexpected {
				lens = append(lens, len(r))
			}
			if !slices.Equal(lens, tc.unexpected) {
				t.Errorf("unexpected %q, want reports of %v lines", unexpected, tc.unexpected)
			}
		})
	}
}
