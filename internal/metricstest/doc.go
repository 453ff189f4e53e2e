// Package metricstest is test support for rmqlb's Prometheus metrics: it
// gathers a registry into families by name, finds a series by its labels,
// and lints the metrics against the Prometheus naming and instrumentation
// conventions (client_golang's promlint) and rmqlb's own rules (Lint). It
// also reads the PromQL of the alerting rules and the Grafana dashboard and
// tells what of it a scrape of the daemon lacks (QueryProblems). It is
// imported by tests only.
package metricstest
