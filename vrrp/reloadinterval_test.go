package vrrp

import (
	"testing"
	"time"
)

// TestReloadShorterIntervalBackupsFirst: a group reloaded one host after
// the other, backups first, from a long advertisement interval to one
// more than MaxAdoptedInterval's factor shorter. A reloaded backup still
// hears the master at the long interval: it must wait for it as before
// (Master_Down_Interval from the master's interval), not clamp it to
// three of its new intervals and take over between two of the master's
// adverts, until the master advertises the new interval. VRRPv2 adverts
// carry one of the intervals configured, never clamped.
func TestReloadShorterIntervalBackupsFirst(t *testing.T) {
	const sec = time.Second
	v3 := func(iv time.Duration) Config {
		return testConfig(func(c *Config) { c.Priority = 200; c.AdvertInterval = iv })
	}
	v2 := func(iv time.Duration) Config {
		return testConfig(func(c *Config) { c.Version = 2; c.AdvertInterval = iv })
	}
	const (
		mdi3v10 = 30*sec + 2187500*time.Microsecond // priority 200 at 10 s: 3 x 10 s + 56/256 x 10 s
		mdi3v1  = 3*sec + 218750*time.Microsecond   // at 1 s
		mdi3v3  = 9*sec + 656250*time.Microsecond   // at 3 s, the clamp of 1 s
		mdi2v10 = 30*sec + 609375*time.Microsecond  // VRRPv2, priority 100: 3 x 10 s + 156/256 s
	)
	runMachineCases(t, []machineCase{
		{
			name: "v3",
			cfg:  v3(10 * sec),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}},
				{at: sec, ev: advertFrom(higher, 250, 10*sec), deadline: sec + mdi3v10},
				{at: 2 * sec, ev: Reconfigure{v3(sec)}, deadline: sec + mdi3v10},
				{at: 11 * sec, ev: advertFrom(higher, 250, 10*sec), deadline: 11*sec + mdi3v10},
				{at: 21 * sec, ev: advertFrom(higher, 250, 10*sec), deadline: 21*sec + mdi3v10, state: StateBackup},
				// The master reloaded: its interval is adopted, and a
				// long one is clamped again.
				{at: 22 * sec, ev: advertFrom(higher, 250, sec), deadline: 22*sec + mdi3v1},
				{at: 23 * sec, ev: advertFrom(higher, 250, 10*sec), want: []Action{IntervalClamped{From: higher, Advertised: 10 * sec, Used: 3 * sec}},
					deadline: 23*sec + mdi3v3},
			},
		},
		{
			name: "v2",
			cfg:  v2(10 * sec),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}},
				{at: sec, ev: v2Advert(higher, 250, 10*sec, ""), deadline: sec + mdi2v10},
				{at: 2 * sec, ev: Reconfigure{v2(sec)}, deadline: sec + mdi2v10},
				{at: 11 * sec, ev: v2Advert(higher, 250, 10*sec, ""), deadline: 11*sec + mdi2v10},
				{at: 21 * sec, ev: v2Advert(higher, 250, 10*sec, ""), deadline: 21*sec + mdi2v10, state: StateBackup},
			},
		},
	})
}
