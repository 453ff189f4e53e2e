package integration

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// status is the decoded output of `rmqlb status --json`. The tests read it
// by walking the JSON rather than through one struct of the whole answer: a
// VRRP instance is the object with the instance's "name", a "state" and
// "counters" (vrrp.Snapshot, with its netsetup.VIPSetSnapshot under
// "addresses"), a backend the object with the backend's "name" and an
// "address" (balancer.BackendSnapshot). Fields the tests do not read may
// change freely.
type status struct {
	raw  any
	text string
}

// instanceStatus is the part of vrrp.Snapshot the tests read.
type instanceStatus struct {
	Name               string `json:"name"`
	State              string `json:"state"`
	ConfiguredPriority int    `json:"configured_priority"`
	EffectivePriority  int    `json:"effective_priority"`
	Reason             string `json:"reason"`
	// RealTime says how the instance's event loop is scheduled with
	// vrrp_rt_priority ("SCHED_FIFO priority N"); empty without.
	RealTime string `json:"realtime"`
	// Since is when the instance entered State (the daemon's clock,
	// which is this machine's).
	Since  time.Time `json:"since"`
	Master *struct {
		Addr     string `json:"addr"`
		Priority int    `json:"priority"`
	} `json:"master"`
	// Conflict is the last time another host announced a VIP of this
	// MASTER that stayed MASTER (vrrp.VIPConflict); nil if never.
	Conflict *struct {
		Addr  string `json:"addr"`
		Count int    `json:"count"`
	} `json:"conflict"`
	// RecentTransitions are its latest changes between BACKUP, MASTER
	// and FAULT, oldest first (carried over an upgrade in place).
	RecentTransitions []struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
	} `json:"recent_transitions"`
	Counters struct {
		AdvertsSent     uint64            `json:"adverts_sent"`
		AdvertsReceived uint64            `json:"adverts_received"`
		Dropped         map[string]uint64 `json:"dropped"`
		Transitions     uint64            `json:"transitions"`
	} `json:"counters"`
	// VIPs as the daemon reports them, with their presence on the
	// interface when the status has it.
	VIPPresent map[string]bool `json:"-"`
	raw        map[string]any
}

// instance finds the VRRP instance called name.
func (s *status) instance(name string) *instanceStatus {
	obj := findObject(s.raw, func(m map[string]any) bool {
		return m["name"] == name && m["state"] != nil && m["counters"] != nil
	})
	if obj == nil {
		return nil
	}
	b, _ := json.Marshal(obj)
	var in instanceStatus
	if err := json.Unmarshal(b, &in); err != nil {
		return nil
	}
	in.raw = obj
	in.VIPPresent = map[string]bool{}
	// VIP presence: the objects with "prefix" and "present" under the
	// instance (its "addresses" part, netsetup.VIPSetSnapshot).
	walk(obj, func(m map[string]any) {
		if p, ok := m["prefix"].(string); ok {
			if pr, ok := m["present"].(bool); ok {
				in.VIPPresent[p] = pr
			}
		}
	})
	return &in
}

// dropped returns the drop counters as "reason=n" sorted, for logs.
func (in *instanceStatus) dropped() string {
	var s []string
	for k, v := range in.Counters.Dropped {
		s = append(s, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// backendStatus is the part of balancer.BackendSnapshot the tests read.
type backendStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	State   string `json:"state"`
	raw     map[string]any
}

// backend finds the backend called name.
func (s *status) backend(name string) *backendStatus {
	obj := findObject(s.raw, func(m map[string]any) bool {
		return m["name"] == name && m["address"] != nil
	})
	if obj == nil {
		return nil
	}
	b, _ := json.Marshal(obj)
	var bs backendStatus
	_ = json.Unmarshal(b, &bs)
	bs.raw = obj
	if bs.State == "" {
		// The check state may sit in a nested health object.
		if h := findObject(obj, func(m map[string]any) bool { _, ok := m["state"].(string); return ok }); h != nil {
			bs.State, _ = h["state"].(string)
		}
	}
	return &bs
}

func findObject(v any, match func(map[string]any) bool) map[string]any {
	var found map[string]any
	walk(v, func(m map[string]any) {
		if found == nil && match(m) {
			found = m
		}
	})
	return found
}

func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(x[k], fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

// list returns the objects of the top-level array key of the status.
func (s *status) list(key string) []map[string]any {
	top, _ := s.raw.(map[string]any)
	arr, _ := top[key].([]any)
	var out []map[string]any
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
