package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineRun is rmqlb run.
func defineRun(fs *flag.FlagSet) runFunc {
	path := fs.String("config", defaultConfig, "read the configuration from `FILE`")
	logFormat := fs.String("log-format", "console", "the log's format: `console|json` (lines for a person to read, or a JSON object a line)")
	takeover := fs.String("takeover-from", "", "take over from the daemon serving the control socket at `PATH`: rmqlb upgrade starts the new program so, and the running daemon answers no other process")
	return func(args []string, _, stderr io.Writer) int {
		// SIGHUP is caught before anything else: a reload asked for
		// while the daemon starts waits for it instead of killing it.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		return cmdRun(*path, *logFormat, *takeover, hup, stderr)
	}
}

// cmdRun runs the daemon in the foreground until SIGINT or SIGTERM; a
// signal on hup reloads the configuration file. With takeover it takes
// over from the daemon serving that control socket (an upgrade in place).
func cmdRun(path, logFormat, takeover string, hup <-chan os.Signal, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb: %s: invalid configuration:\n%v\n", path, err)
		if takeover != "" {
			daemon.AbortTakeOver(takeover, fmt.Errorf("%s: invalid configuration: %w", path, err))
		}
		return 1
	}
	level := zap.NewAtomicLevelAt(cfg.LogLevel)
	log, err := newLogger(level, logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb: %v\n", err)
		return 2
	}
	defer log.Sync()
	raiseNoFile(log)
	tuneGC(log)
	stopDumps := dumpOnQuit(stderr, log)
	defer stopDumps()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opt := daemon.Options{Path: path, Version: programVersion(), Logger: log, Level: &level,
		SuccessorArgs: []string{"run", "--config", path, "--log-format", logFormat}}
	// The runtime takes GOMAXPROCS from the environment only when it is a
	// positive number; anything else leaves its own choice.
	envProcs, err := strconv.Atoi(os.Getenv("GOMAXPROCS"))
	procsFromEnv := err == nil && envProcs > 0
	procs, loops := daemon.GoProcs(cfg, runtime.GOMAXPROCS(0), procsFromEnv, runtime.NumCPU())
	if loops > 0 {
		runtime.GOMAXPROCS(procs)
		opt.ProxyLoops = loops
		log.Info("a processor of the Go runtime beside the proxy's event loops", zap.Int("gomaxprocs", procs), zap.Int("proxy_loops", loops))
	}
	if takeover != "" {
		if opt.Takeover, err = daemon.TakeOver(cfg, takeover); err != nil {
			log.Error("not starting", zap.Error(err))
			return 1
		}
		log.Info("taking over from the running daemon", zap.Int("pid", opt.Takeover.PID()))
	}
	d, err := daemon.New(cfg, opt)
	if err != nil {
		log.Error("starting", zap.Error(err))
		opt.Takeover.Abort(err)
		return 1
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				// A second SIGINT or SIGTERM stops the process at once
				// (the next start removes the VIPs it leaves that carry
				// rmqlb's marker).
				stop()
				log.Info("stopping: a second SIGINT or SIGTERM stops at once")
				return
			case <-hup:
				d.RequestReload()
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		if errors.Is(err, daemon.ErrLocked) {
			log.Error("not starting: another rmqlb daemon runs with this configuration; it was left alone", zap.Error(err))
		} else {
			log.Error("daemon stopped with an error", zap.Error(err))
		}
		return 1
	}
	log.Info("daemon stopped")
	return 0
}

// newLogger returns a logger writing to w in format (console or json) at
// the level, which a reload may change.
func newLogger(level zap.AtomicLevel, format string, w io.Writer) (*zap.Logger, error) {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("parsing log format: %q is not console or json", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level)), nil
}

// dumpOnQuit writes every goroutine's stack to w at each SIGQUIT, and the
// daemon runs on: Go's default would write them and exit, leaving the
// VIPs on the interface without a priority-0 advert, which is not what an
// operator asking a stuck-looking daemon what it does wants. The returned
// function stops it and waits for its goroutine.
func dumpOnQuit(w io.Writer, log *zap.Logger) (stop func()) {
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGQUIT)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-quit:
				log.Warn("SIGQUIT: writing every goroutine's stack to stderr; the daemon runs on")
				if err := pprof.Lookup("goroutine").WriteTo(w, 2); err != nil {
					log.Warn("writing the goroutines' stacks", zap.Error(err))
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(quit)
		close(done)
		<-exited
	}
}

// raiseNoFile lifts the soft open-files limit to the hard one: every
// proxied session holds two sockets.
func raiseNoFile(log *zap.Logger) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			log.Warn("raising the open-files limit", zap.Error(err))
			return
		}
	}
	log.Debug("open-files limit", zap.Uint64("limit", rl.Cur))
}
