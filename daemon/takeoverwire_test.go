package daemon

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestTakeoverOfferFiles: a new process accepts the offers of protocol 1
// (one socket per listener, in "file") and 2 (every socket, in "files"),
// and refuses one that names a file it did not get, names one twice, or
// gives a listener no socket.
func TestTakeoverOfferFiles(t *testing.T) {
	for _, c := range []struct {
		name  string
		json  string
		files int
		ok    bool
		want  [][]int // each listener's files once valid
	}{
		{"protocol 1", `{"protocol":1,"lock":0,"control":1,"metrics":{"bind":"127.0.0.1:9","file":2},
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","file":3},{"name":"b","bind":"10.0.0.1:5671","file":4}]}`, 5, true, [][]int{{3}, {4}}},
		{"protocol 2", `{"protocol":2,"lock":0,"control":1,
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","files":[2,3,4]},{"name":"b","bind":"10.0.0.1:5671","files":[5]}]}`, 6, true, [][]int{{2, 3, 4}, {5}}},
		{"protocol 2, a file not sent", `{"protocol":2,"lock":0,"control":1,
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","files":[2,3]}]}`, 3, false, nil},
		{"protocol 2, a file twice", `{"protocol":2,"lock":0,"control":1,
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","files":[2,3]},{"name":"b","bind":"10.0.0.1:5671","files":[3]}]}`, 4, false, nil},
		{"protocol 2, the lock's file for a listener", `{"protocol":2,"lock":0,"control":1,
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","files":[0]}]}`, 2, false, nil},
		{"protocol 2, a listener without files", `{"protocol":2,"lock":0,"control":1,
			"listeners":[{"name":"a","bind":"10.0.0.1:5672"}]}`, 2, false, nil},
		{"protocol 1, the metrics' file for a listener", `{"protocol":1,"lock":0,"control":1,"metrics":{"bind":"127.0.0.1:9","file":2},
			"listeners":[{"name":"a","bind":"10.0.0.1:5672","file":2}]}`, 3, false, nil},
	} {
		var o takeoverOffer
		if err := json.Unmarshal([]byte(c.json), &o); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := o.validFiles(c.files); got != c.ok {
			t.Errorf("%s: valid %v, want %v", c.name, got, c.ok)
			continue
		}
		for i, w := range c.want {
			if !slices.Equal(o.Listeners[i].Files, w) {
				t.Errorf("%s: listener %s has files %v, want %v", c.name, o.Listeners[i].Name, o.Listeners[i].Files, w)
			}
		}
	}
}
