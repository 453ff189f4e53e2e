package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"time"

	"github.com/rmqlb/rmqlb/bench/amqpload"
)

// loadSpec is one measurement, run by a child process of the benchmark in
// the lab's client namespace (-run-load), so that its connections come from
// the client host as an application's would.
type loadSpec struct {
	// Kind is "write", "read", "mixed", "fill", "storm" or "reconnect".
	Kind     string        `json:"kind"`
	URL      string        `json:"url"`
	Queue    string        `json:"queue"`
	Size     int           `json:"size"`
	Window   int           `json:"window"`
	Prefetch int           `json:"prefetch"`
	Count    int           `json:"count"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	Clients  int           `json:"clients"`
	Timeout  time.Duration `json:"timeout"`
	// Retry is a reconnecting client's pause after a failed attempt.
	Retry time.Duration `json:"retry,omitempty"`
	// Procs, for a write, read or mixed load, names the processes (pids)
	// whose CPU time and context switches the load reads at the start and
	// at the end of its measured time, with the machine's CPU time and
	// its own ("client"); none: no readings.
	Procs map[string]int `json:"procs,omitempty"`
}

// loadResult is what the child prints: one JSON object.
type loadResult struct {
	PublishRate float64 `json:"publish_rate"`
	ConsumeRate float64 `json:"consume_rate"`
	// ConsumeElapsed is the consumer's measured time (a read: from the
	// first delivery to the last).
	ConsumeElapsed time.Duration `json:"consume_elapsed"`
	ConfirmP50     time.Duration `json:"confirm_p50"`
	ConfirmP99     time.Duration `json:"confirm_p99"`
	// Moved counts the messages confirmed and delivered in the measured
	// time (a mixed load: the publisher's and the consumer's).
	Moved int `json:"moved"`
	// Cost is what spec.Procs and the machine spent in the measured time
	// (the publisher's, for a mixed load); nil without Procs.
	Cost *windowCost `json:"cost,omitempty"`

	StormConnected int            `json:"storm_connected"`
	StormFailed    int            `json:"storm_failed"`
	StormAllIn     time.Duration  `json:"storm_all_in"`
	StormP50       time.Duration  `json:"storm_p50"`
	StormP99       time.Duration  `json:"storm_p99"`
	StormErrors    map[string]int `json:"storm_errors,omitempty"`

	// Reconnect is what a reconnect load's clients measured.
	Reconnect *reconnectFigures `json:"reconnect,omitempty"`

	Err string `json:"error,omitempty"`
}

// runLoad runs spec and writes its result to w as JSON.
func runLoad(ctx context.Context, spec loadSpec, w io.Writer) error {
	t := amqpload.Target{URL: spec.URL, Timeout: spec.Timeout}
	pub := amqpload.PublishConfig{Queue: spec.Queue, Size: spec.Size, Window: spec.Window, Warmup: spec.Warmup, Duration: spec.Duration}
	cons := amqpload.ConsumeConfig{Queue: spec.Queue, Prefetch: spec.Prefetch, Warmup: spec.Warmup, Duration: spec.Duration}
	var meter *costMeter
	if spec.Procs != nil && spec.Kind != "fill" && spec.Kind != "storm" {
		meter = &costMeter{pids: maps.Clone(spec.Procs)}
		meter.pids["client"] = os.Getpid()
		pub.Mark, cons.Mark = meter.mark, meter.mark
	}
	var res loadResult
	var err error
	publish := func(r amqpload.PublishResult) {
		res.PublishRate = r.Rate()
		res.ConfirmP50 = amqpload.Percentile(r.Latencies, 50)
		res.ConfirmP99 = amqpload.Percentile(r.Latencies, 99)
	}
	switch spec.Kind {
	case "write":
		var r amqpload.PublishResult
		r, err = amqpload.Publish(ctx, t, pub)
		publish(r)
		res.Moved = r.Confirmed
	case "fill":
		pub.Count = spec.Count
		var r amqpload.PublishResult
		r, err = amqpload.Publish(ctx, t, pub)
		publish(r)
	case "read":
		cons.Count = spec.Count
		var r amqpload.ConsumeResult
		r, err = amqpload.Consume(ctx, t, cons)
		res.ConsumeRate, res.ConsumeElapsed = r.Rate(), r.Elapsed
		res.Moved = r.Received
	case "mixed":
		var pr amqpload.PublishResult
		var cr amqpload.ConsumeResult
		pr, cr, err = amqpload.Mixed(ctx, t, pub, cons)
		publish(pr)
		res.ConsumeRate = cr.Rate()
		res.Moved = pr.Confirmed + cr.Received
	case "storm":
		r := amqpload.Storm(ctx, t, spec.Clients)
		res.StormConnected, res.StormFailed, res.StormAllIn = r.Connected, r.Failed(), r.AllIn
		res.StormP50, res.StormP99 = amqpload.Percentile(r.Times, 50), amqpload.Percentile(r.Times, 99)
		res.StormErrors = r.Errors
	case "reconnect":
		res.Reconnect, err = runReconnect(ctx, spec, w)
	default:
		err = fmt.Errorf("unknown load %q", spec.Kind)
	}
	if err != nil {
		res.Err = err.Error()
	}
	if meter != nil {
		res.Cost = meter.cost()
	}
	return json.NewEncoder(w).Encode(res)
}
