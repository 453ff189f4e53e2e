package control

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// Format writes s for a human: one table per part, the VIPs with whether
// they are on the interface now, and the reasons of the last changes.
func Format(w io.Writer, s Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	p("rmqlb %s  pid %d  up %s  config %s\n", s.Version, s.PID, age(now, s.Started), s.Config)
	if r := s.Reload; r != nil {
		switch {
		case r.Error != "":
			p("last reload %s ago REFUSED: %s\n", age(now, r.At), oneLine(r.Error))
		default:
			p("last reload %s ago: applied %s", age(now, r.At), orNone(r.Applied))
			if len(r.Pending) > 0 {
				p("; needs restart: %s", strings.Join(r.Pending, ", "))
			}
			p("\n")
		}
	}
	if len(s.VRRP) > 0 {
		p("\nVRRP\nINSTANCE\tIF\tVRID\tVER\tSTATE\tFOR\tPRIO (CONF/EFF)\tMASTER HEARD\tVIPS\tREASON\n")
		for _, v := range s.VRRP {
			master := "-"
			if m := v.Master; m != nil {
				master = fmt.Sprintf("%s prio %d, %s ago", m.Addr, m.Priority, age(now, m.Heard))
			}
			p("%s\t%s\t%d\tv%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", v.Name, v.Interface, v.VRID, v.Version, v.State,
				age(now, v.Since), v.ConfiguredPriority, v.EffectivePriority, master, vips(v), v.Reason)
		}
		p("\nADVERTS\tSENT\tRECEIVED\tDROPPED\tSEND ERRORS\tTRANSITIONS\n")
		for _, v := range s.VRRP {
			c := v.Counters
			p("%s\t%d\t%d\t%s\t%d\t%d\n", v.Name, c.AdvertsSent, c.AdvertsReceived, drops(c.Dropped), c.SendErrors, c.Transitions)
		}
		for _, v := range s.VRRP {
			for _, t := range v.Tracks {
				state := "ok"
				if t.Failing {
					state = "FAILING"
				}
				p("track %s: %s weight %+d %s\n", v.Name, t.Rule, t.Weight, state)
			}
		}
		for _, v := range s.VRRP {
			formatRelease(p, now, v)
		}
	}
	for _, l := range s.Listeners {
		listening := "listening"
		if !l.Listening {
			listening = "NOT LISTENING"
		}
		p("\nLISTENER %s on %s (%s), %s: %d active, %d total, %d refused (maxconn), %d failed (no backend)\n",
			l.Name, l.Bind, l.Policy, listening, l.Active, l.Total, l.Refused, l.NoBackend)
		p("BACKEND\tADDRESS\tSTATE\tCHECK\tWEIGHT\tACTIVE\tTOTAL\tCONN FAIL\tIN\tOUT\tLAST CHANGE\n")
		for _, b := range l.Backends {
			check := "-"
			id := backend.ID{Listener: l.Name, Name: b.Name}
			for _, c := range s.Checks {
				if c.Backend == id {
					check = c.Health.String()
				}
			}
			change := "-"
			if !b.LastChange.IsZero() {
				change = fmt.Sprintf("%s ago: %s", age(now, b.LastChange), b.LastChangeReason)
			}
			p("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", b.Name, b.Address, b.State, check, b.Weight,
				b.Active, b.Total, b.ConnectFailures, size(b.BytesIn), size(b.BytesOut), change)
		}
	}
	if len(s.Checks) > 0 {
		p("\nCHECK\tSTATE\tFOR\tLAST\tLATENCY\tOK/FAIL\tREASON\n")
		for _, c := range s.Checks {
			last := "never"
			if !c.LastCheck.IsZero() {
				last = age(now, c.LastCheck) + " ago"
			}
			reason := c.Reason
			if c.LastWarning != "" {
				reason += " [" + c.LastWarning + "]"
			}
			p("%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", c.Backend, c.State, age(now, c.Since), last,
				c.LastLatency.Round(time.Microsecond), c.ConsecutivePasses, c.ConsecutiveFailures, oneLine(reason))
		}
	}
	return tw.Flush()
}

func vips(v VRRP) string {
	present := map[string]bool{}
	for _, a := range v.Addresses.VIPs {
		present[a.Prefix.String()] = a.Present
	}
	var out []string
	for _, p := range v.VIPs {
		mark := " (absent)"
		if present[p.String()] {
			mark = " (on " + v.Interface + ")"
		}
		out = append(out, p.String()+mark)
	}
	return strings.Join(out, ", ")
}

func drops(m map[string]uint64) string {
	var total uint64
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == 0 {
			continue
		}
		total += m[k]
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, " "))
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing changed"
	}
	return strings.Join(s, ", ")
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
