package vrrpsoak

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// Timing is what the adverts of one master, captured on every host of a
// lab, say about its timing.
type Timing struct {
	// Sent is the number of adverts the master sent in the window.
	Sent int `json:"sent"`
	// JitterP50, JitterP99 and JitterMax are percentiles of the send
	// jitter: how far the time between two consecutive adverts of the
	// master, on its own interface, was from the interval (either way).
	JitterP50 time.Duration `json:"jitter_p50"`
	JitterP99 time.Duration `json:"jitter_p99"`
	JitterMax time.Duration `json:"jitter_max"`
	// MaxGap is the longest time between two consecutive adverts of the
	// master received by any backup; MaxGapHost is that backup.
	MaxGap     time.Duration `json:"max_gap"`
	MaxGapHost string        `json:"max_gap_host"`
	// LateGaps counts the gaps at the backups longer than twice the
	// interval (an advert at least one interval late).
	LateGaps int `json:"late_gaps"`
	// DownGaps counts the gaps at the backups longer than the backup's
	// Master_Down_Interval (3 x interval + Skew_Time): each one is a
	// takeover by the RFC's rules.
	DownGaps int `json:"down_gaps"`
	// ForeignMasters counts the runs of adverts of priority > 0 that a
	// host other than the master sent: a backup that took over, for as
	// long as it advertised. The same as a false transition, seen on the
	// wire whatever the implementation logs.
	ForeignMasters int `json:"foreign_masters"`
}

// HostCapture is the adverts one host's capture recorded.
type HostCapture struct {
	Host     string
	Addr     netip.Addr
	Priority int
	Adverts  []Advert
}

// analyse computes the Timing of master's adverts at interval, counting
// only adverts captured in [from, to).
func analyse(caps []HostCapture, master netip.Addr, interval time.Duration, from, to time.Time) Timing {
	var t Timing
	lo, hi := from.UnixNano(), to.UnixNano()
	in := func(a Advert) bool { return a.At >= lo && a.At < hi }
	mk := master.As4()
	var jitter []time.Duration
	for _, hc := range caps {
		if hc.Addr == master {
			var last int64
			for _, a := range hc.Adverts {
				if !in(a) || !a.Out || a.Src != mk || a.Priority == 0 {
					continue
				}
				t.Sent++
				if last != 0 {
					d := time.Duration(a.At-last) - interval
					jitter = append(jitter, max(d, -d))
				}
				last = a.At
			}
			continue
		}
		down := 3*interval + time.Duration(256-hc.Priority)*interval/256
		var last int64
		var foreignLast int64
		for _, a := range hc.Adverts {
			if !in(a) {
				continue
			}
			if a.Out {
				if a.Priority > 0 {
					if foreignLast == 0 || time.Duration(a.At-foreignLast) > down {
						t.ForeignMasters++
					}
					foreignLast = a.At
				}
				continue
			}
			if a.Src != mk {
				continue
			}
			if last != 0 {
				g := time.Duration(a.At - last)
				if g > t.MaxGap {
					t.MaxGap, t.MaxGapHost = g, hc.Host
				}
				if g > 2*interval {
					t.LateGaps++
				}
				if g > down {
					t.DownGaps++
				}
			}
			last = a.At
		}
	}
	t.JitterP50 = percentile(jitter, 0.50)
	t.JitterP99 = percentile(jitter, 0.99)
	t.JitterMax = percentile(jitter, 1)
	return t
}

// percentile returns the p-quantile (0..1) of ds by the nearest-rank
// method; 0 for none. It sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
