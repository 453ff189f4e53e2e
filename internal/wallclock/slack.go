package wallclock

import "time"

// SchedulingSlack is what the tests add to a bound that a protocol or a
// configuration guarantees (an RFC 5798 Master_Down_Interval, a health
// check's fall x interval + timeout, a gratuitous ARP schedule) before they
// compare it with a time measured on the wall clock. The labs run real
// processes on a machine whose two CPUs are shared with other work: any of
// the daemon, the probe, the test's own polling and the ip(8) commands may
// be kept off a CPU for a while, and each such delay adds to what is
// measured. 500 ms covers the delays seen on a busy 2-core machine (load
// average up to 17) while staying well below the errors the bounds are there
// to catch: a failover that waits a second Master_Down_Interval at 1 s
// adverts, a missed gratuitous ARP (the client's entry then stays wrong for
// 30 s and more), a check that needs another interval or two.
//
// A bound that must tell two protocol paths apart by less than this slack
// (a clean stop's Skew_Time from a dead master's Master_Down_Interval at
// 100 ms adverts) is checked on an event the daemon reports instead, with
// the time only logged and bounded loosely.
const SchedulingSlack = 500 * time.Millisecond
