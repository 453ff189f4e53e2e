// Package wallclock holds what the tests that compare a time measured on
// the wall clock with a bound share: the scheduling slack they add to the
// bound. It is test support: the product never imports it.
package wallclock
