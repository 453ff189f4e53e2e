// Package benchstat holds what rmqlb's benchmark commands (bench/cmd/...)
// share to summarise and print their figures: medians, ratios of figures
// measured side by side, figure formatting, aligned Markdown tables (and
// reading a row back, for tests), the machine's load average (the
// benchmarks share their CPUs with whatever else runs, and say so), the
// CPU time and context switches of a process's threads and the machine's
// CPU time (from /proc), a wait that ends with its context, the tools a
// benchmark needs, and building the module's programs they run.
package benchstat
