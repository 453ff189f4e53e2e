// Package logcount is the counter behind rmqlb's rate-limited warnings: an
// event that can come in floods (a client refused at the descriptor
// limit, a control connection refused, a client not pinned) is counted
// every time and logged at most every Every, each log line saying how
// many happened since the last. Time is passed in by the caller, so each
// user keeps its own clock.
package logcount
