package notify

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// execute runs j's command in a process group of its own, unless
// CheckSafe finds it unsafe (a missing program is left to fail at the
// start, with exec's error), logs its output and waits until it has
// exited and its output is closed, or until j's timeout, when it kills
// the group. It returns the result and, unless it is ResultOK, why.
func (r *Runner) execute(j job, log *zap.Logger) (Result, error) {
	fail := func(res Result, err error) (Result, error) {
		return res, fmt.Errorf("running notify %s hook %s: %w", j.ev.Kind.Key(), j.argv[0], err)
	}
	if unsafe := FindUnsafe(j.argv[0], r.owners...); unsafe != nil {
		return fail(ResultError, fmt.Errorf("not run: %w", unsafe))
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(ResultError, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fail(ResultError, err)
	}
	cmd := exec.Command(j.argv[0], j.argv[1:]...)
	cmd.Env = r.environ(j.ev)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	// The child has its own copies of the write ends: the reads below
	// see EOF once every process holding them has closed them.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fail(ResultError, err)
	}
	pgid := cmd.Process.Pid // Setpgid: the hook leads its own group

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	out := &output{log: log}
	if j.test != nil {
		out.keep = j.test.keep
	}
	out.left.Store(MaxOutputLines)
	var readers sync.WaitGroup
	readers.Go(func() { out.read(outR, "stdout", zapcore.InfoLevel) })
	readers.Go(func() { out.read(errR, "stderr", zapcore.WarnLevel) })
	outDone := make(chan struct{})
	go func() { readers.Wait(); close(outDone) }()

	timer := r.clock.NewTimer(j.timeout)
	defer timer.Stop()
	var waitErr error
	gotExit, gotOut, timedOut := false, false, false
	for !(gotExit && gotOut) && !timedOut {
		select {
		case waitErr = <-exited:
			gotExit = true
		case <-outDone:
			gotOut = true
		case <-timer.C():
			timedOut = true
		}
	}
	if timedOut {
		// The group: the hook and the children it left, which may hold
		// its output open after it exited.
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			log.Warn("killing the process group of a notify hook", zap.Int("pgid", pgid), zap.Error(err))
		}
		if !gotExit {
			waitErr = <-exited
		}
	}
	// A process that left the group (setsid) may still hold the output:
	// closing the read ends ends the readers.
	outR.Close()
	errR.Close()
	<-outDone
	out.flush()
	switch {
	case timedOut && !killed(waitErr):
		return fail(ResultTimeout, fmt.Errorf("exited (%v) but its output stayed open until the timeout of %v: process group killed", exitStatus(waitErr), j.timeout))
	case timedOut:
		return fail(ResultTimeout, fmt.Errorf("timed out after %v: process group killed", j.timeout))
	case waitErr != nil:
		return fail(ResultFailed, waitErr)
	}
	return ResultOK, nil
}

// killed reports whether cmd.Wait's err says the process was killed by
// SIGKILL (by the timeout, when it had not exited before).
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// exitStatus describes how a process ended, from cmd.Wait's error.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// output logs the lines a hook writes on its standard output and error:
// at most MaxOutputLines per run (the rest are counted), each cut at
// MaxLineLen bytes. Its methods are safe for the two readers at once.
type output struct {
	log     *zap.Logger
	left    atomic.Int64 // lines that may still be logged
	skipped atomic.Int64 // lines not logged
	// keep, when set, is given each line logged too (a test run's).
	keep func(stream, line string)
}

// read logs f's lines at lvl until EOF or an error (f closed).
func (o *output) read(f *os.File, stream string, lvl zapcore.Level) {
	br := bufio.NewReaderSize(f, MaxLineLen)
	for {
		line, cut, err := br.ReadLine()
		if err != nil {
			return
		}
		if o.left.Add(-1) < 0 {
			o.skipped.Add(1)
		} else {
			fields := []zap.Field{zap.String("stream", stream), zap.String("line", string(line))}
			if cut {
				fields = append(fields, zap.Bool("cut", true))
			}
			o.log.Log(lvl, "notify hook output", fields...)
			if o.keep != nil {
				o.keep(stream, string(line))
			}
		}
		for cut { // the rest of a long line
			if _, cut, err = br.ReadLine(); err != nil {
				return
			}
		}
	}
}

// flush logs how many lines were not logged, if any.
func (o *output) flush() {
	if n := o.skipped.Load(); n > 0 {
		o.log.Warn("notify hook output: further lines not logged", zap.Int64("lines", n), zap.Int("max_lines", MaxOutputLines))
	}
}
