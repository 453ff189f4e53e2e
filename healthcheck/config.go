package healthcheck

import (
	"errors"
	"time"

	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// Defaults, as HAProxy's (inter 2s, rise 2, fall 3), and limits.
const (
	DefaultInterval = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	// DefaultTimeout bounds a check when CheckConfig.Timeout is zero; a
	// shorter Interval bounds it instead.
	DefaultTimeout = time.Second
	// MinInterval is the shortest interval, fast or down interval and
	// timeout accepted.
	MinInterval = 10 * time.Millisecond
	// MaxRiseFall is the largest Rise and Fall accepted.
	MaxRiseFall = 100
	// DefaultBusyGrace is CheckConfig.BusyGrace when it is zero.
	DefaultBusyGrace = 5 * time.Second
)

// CheckConfig is the schedule of one backend's checks. The zero value means every default.
type CheckConfig struct {
	// Interval between checks while the state is stable (UP or DEGRADED without failures).
	// Zero: DefaultInterval (2 s).
	Interval time.Duration `json:"interval"`
	// FastInterval between checks while the state is changing: after a first failure until
	// fall, or after a first pass while DOWN until rise. Zero: Interval. Checks never overlap,
	// so failures by timeout come max(FastInterval, Timeout) apart (see Timing in the package
	// documentation).
	FastInterval time.Duration `json:"fast_interval"`
	// DownInterval between checks while DOWN without passes. Zero: Interval.
	DownInterval time.Duration `json:"down_interval"`
	// Timeout bounds one check (connect, handshake, close). Zero: DefaultTimeout (1 s), or
	// Interval when that is shorter.
	Timeout time.Duration `json:"timeout"`
	// Rise is the number of consecutive passes that bring a DOWN backend UP, 1..MaxRiseFall.
	// Zero: 2.
	Rise int `json:"rise"`
	// Fall is the number of consecutive failures that take an UP backend DOWN, 1..MaxRiseFall.
	// Zero: 3.
	Fall int `json:"fall"`
	// StartJitter bounds the random delay of the first check. Zero: Interval; negative: none.
	StartJitter time.Duration `json:"start_jitter"`
	// SlowStart is the time over which the weight of a backend coming back from DOWN ramps
	// from 1 % to 100 %. Zero: off (full weight at once).
	SlowStart time.Duration `json:"slow_start"`
	// OnAlarm is what a resource alarm seen by a passing check does (Result.Alarm). Zero:
	// AlarmDegraded.
	OnAlarm AlarmAction `json:"on_alarm"`
	// BusyGrace is how long a serving backend whose checks time out while it keeps sending
	// bytes to the clients proxied to it (Result.Busy: a broker answering a reconnect storm
	// takes seconds to start one more handshake, a frozen one sends nothing) stays in
	// service: such timeouts count neither as failures nor as passes until the first of them
	// is BusyGrace old; after that they are failures. Zero: DefaultBusyGrace (5 s); negative:
	// none (every timeout is a failure, as without traffic to look at).
	BusyGrace time.Duration `json:"busy_grace"`
	// Login identifies whom the check logs in as (a digest of its credentials), for
	// RefusedAloneFails: the checks of two backends of a listener with the same Login are
	// refused alike by the nodes of one cluster. Zero: none (a check that does not log in).
	Login string `json:"login,omitempty"`
	// RefusedAloneFails makes a check that passed with the broker refusing its own login
	// (Result.Refused) a failure when another backend of the listener whose check has the same
	// Login was let in (its check passed, its login not refused) since this backend's refusals
	// began (PassedAlike): a refusal that other nodes
	// do not give is this node's own (an authentication backend or a limit of its own, a vhost
	// down on it). Refused by every node alike, the check still passes with its warning. False
	// (the zero value): a refusal passes with its warning whatever the other backends meet.
	RefusedAloneFails bool `json:"refused_alone_fails,omitempty"`
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c CheckConfig) WithDefaults() CheckConfig {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.FastInterval == 0 {
		c.FastInterval = c.Interval
	}
	if c.DownInterval == 0 {
		c.DownInterval = c.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval)
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	if c.StartJitter == 0 {
		c.StartJitter = c.Interval
	}
	if c.BusyGrace == 0 {
		c.BusyGrace = DefaultBusyGrace
	}
	return c
}

// Validate reports every invalid field of c (zero fields are valid: they
// take defaults), each a *fielderr.Error naming the field by its JSON name
// and saying what is wrong with its value, joined with errors.Join. These
// are the schedule's rules; the configuration file's reader relies on
// them instead of restating them.
func (c CheckConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", c.Interval}, {"fast_interval", c.FastInterval}, {"down_interval", c.DownInterval}, {"timeout", c.Timeout}} {
		if d.v < 0 || d.v > 0 && d.v < MinInterval {
			errs = append(errs, fielderr.New(d.name, "must be at least %v, not %v", MinInterval, d.v))
		}
	}
	if c.SlowStart < 0 {
		errs = append(errs, fielderr.New("slow_start", "must not be negative (0: off), not %v", c.SlowStart))
	}
	if c.Rise < 0 || c.Rise > MaxRiseFall {
		errs = append(errs, fielderr.New("rise", "must be 1..%d, not %d", MaxRiseFall, c.Rise))
	}
	if c.Fall < 0 || c.Fall > MaxRiseFall {
		errs = append(errs, fielderr.New("fall", "must be 1..%d, not %d", MaxRiseFall, c.Fall))
	}
	if c.OnAlarm > AlarmDown {
		errs = append(errs, fielderr.New("on_alarm", "must be degraded or down, not %v", c.OnAlarm))
	}
	return errors.Join(errs...)
}
