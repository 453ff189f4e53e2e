// Package amqpload is the AMQP 0-9-1 load of rmqlb's AMQP benchmark
// (command bench/cmd/amqp-bench): persistent messages published with
// publisher confirms, a window of them in flight; a consumer with manual
// acknowledgements; both at once; and a storm of clients that all connect
// at the same moment. Connections are made with github.com/rabbitmq/amqp091-go
// through a Dial function, so that the caller decides the network namespace
// they come from.
//
// A load runs on the caller's goroutine and owns every connection it
// opens; it returns when done or when its context ends, with its
// connections closed. Results hold raw figures (counts, durations, every
// latency); Percentile turns latencies into percentiles. A load given a
// Mark function calls it at the start and at the end of its measured time,
// for readings (CPU time, say) that cover exactly that time.
package amqpload
