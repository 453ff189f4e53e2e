package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// cmdRun runs the daemon in the foreground until SIGINT or SIGTERM.
func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/rmqlb/rmqlb.yaml", "configuration file")
	logFormat := fs.String("log-format", "console", "log format: console or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb: %s: invalid configuration:\n%v\n", *path, err)
		return 1
	}
	log, err := newLogger(cfg.LogLevel, *logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb: %v\n", err)
		return 1
	}
	defer log.Sync()
	raiseNoFile(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := newDaemon(*path, cfg, log)
	if err != nil {
		log.Error("starting", zap.Error(err))
		return 1
	}
	if err := d.run(ctx); err != nil {
		log.Error("daemon stopped with an error", zap.Error(err))
		return 1
	}
	log.Info("daemon stopped")
	return 0
}

func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("parsing log level: %w", err)
	}
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
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
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

// vrrpUnit is one VRRP instance and the VIP set it drives.
type vrrpUnit struct {
	cfg  config.VRRPInstance
	inst *vrrp.Instance
	vips *netsetup.VIPSet
	// tracker turns check results into a priority adjustment; nil
	// without track rules.
	tracker *healthcheck.Tracker
}

// daemon owns every running part. Its fields are set by newDaemon and not
// changed after, except what reload documents.
type daemon struct {
	path    string
	cfg     *config.Config
	log     *zap.Logger
	reg     *prometheus.Registry
	started time.Time
	vrrp    []*vrrpUnit
	traffic *traffic

	mu         sync.Mutex // guards lastReload
	lastReload *control.Reload
}

// vipLabel marks the VIPs this daemon adds (see netsetup.RemoveStale).
const vipLabel = netsetup.DefaultLabel

func newDaemon(path string, cfg *config.Config, log *zap.Logger) (*daemon, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &daemon{path: path, cfg: cfg, log: log, reg: reg, started: time.Now()}
	for _, ic := range cfg.VRRPInstances {
		vs, err := netsetup.NewVIPSet(netsetup.VIPConfig{
			Interface: ic.Interface,
			Label:     vipLabel,
			VIPs:      ic.VIPs,
			GARP:      netsetup.GARPConfig{Count: ic.GARP.Count, Interval: ic.GARP.Interval, Refresh: ic.GARP.Refresh},
		}, log.With(zap.String("vrrp_instance", ic.Name)), prometheus.WrapRegistererWith(prometheus.Labels{"instance": ic.Name}, reg))
		if err != nil {
			return nil, fmt.Errorf("setting up VIPs of %q: %w", ic.Name, err)
		}
		cs, err := vrrp.ParseChecksumMode(ic.V3Checksum)
		if err != nil {
			return nil, fmt.Errorf("setting up VRRP instance %q: %w", ic.Name, err)
		}
		inst, err := vrrp.NewInstance(vrrp.Config{
			Name:           ic.Name,
			Interface:      ic.Interface,
			VRID:           uint8(ic.VirtualRouterID),
			Priority:       uint8(ic.Priority),
			Version:        ic.Version,
			AdvertInterval: ic.AdvertInterval,
			Preempt:        ic.PreemptV,
			PreemptDelay:   ic.PreemptDelay,
			AuthPass:       ic.AuthPass,
			Checksum:       cs,
			UnicastSrc:     ic.Src,
			UnicastPeers:   ic.Peers,
			VIPs:           ic.VIPs,
		}, vrrp.Options{Owner: vs, Logger: log, Registerer: reg})
		if err != nil {
			return nil, fmt.Errorf("setting up VRRP instance %q: %w", ic.Name, err)
		}
		d.vrrp = append(d.vrrp, &vrrpUnit{cfg: ic, inst: inst, vips: vs})
	}
	t, err := newTraffic(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	d.traffic = t
	d.wireTracks()
	return d, nil
}

// run starts every part and waits until ctx is done (or a part fails) and
// every part has stopped; see the stop order below.
func (d *daemon) run(ctx context.Context) error {
	d.log.Info("starting rmqlb", zap.String("version", version), zap.String("config", d.path),
		zap.Int("vrrp_instances", len(d.vrrp)), zap.Int("listeners", len(d.cfg.Listeners)))
	if len(d.vrrp) > 0 {
		removed, err := netsetup.RemoveStale(vipLabel, d.log)
		if err != nil {
			d.log.Warn("removing stale VIPs of an earlier run", zap.Error(err))
		} else if len(removed) > 0 {
			d.log.Info("removed stale VIPs of an earlier run", zap.Int("count", len(removed)))
		}
	}

	srv := &control.Server{Path: d.cfg.ControlSocket, Handler: d.handle, Logger: d.log}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if d.cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", d.cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics: %w", err)
		}
	}

	// stop is done on SIGINT/SIGTERM or when a part fails. Then the VRRP
	// instances stop first (a master sends priority 0 and releases its
	// VIPs, so the new master takes over within Skew_Time) and only then
	// the listeners, checks and control socket: a client that reconnects
	// during the hand-over must not be refused by this host's closing
	// listener while the VIP is still here.
	stop, fail := context.WithCancel(ctx)
	defer fail()
	base := context.WithoutCancel(ctx)
	vrrpCtx, stopVRRP := context.WithCancel(base)
	defer stopVRRP()
	restCtx, stopRest := context.WithCancel(base)
	defer stopRest()
	var vrrpWG, restWG sync.WaitGroup
	errs := make(chan error, 64)
	spawn := func(gctx context.Context, wg *sync.WaitGroup) func(string, func(context.Context) error) {
		return func(name string, f func(context.Context) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(gctx); err != nil && !errors.Is(err, context.Canceled) {
					errs <- fmt.Errorf("%s: %w", name, err)
					fail()
				}
			}()
		}
	}
	goRun := spawn(restCtx, &restWG)
	goVRRP := spawn(vrrpCtx, &vrrpWG)
	goRun("control socket", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	if metricsLn != nil {
		hs := &http.Server{Handler: promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		goRun("metrics", func(ctx context.Context) error {
			stop := context.AfterFunc(ctx, func() { hs.Close() })
			defer stop()
			if err := hs.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if err := d.traffic.start(stop, goRun); err != nil {
		stopRest()
		restWG.Wait()
		return err
	}
	if len(d.vrrp) > 0 {
		d.traffic.waitFirstChecks(stop, firstCheckLimit(d.cfg))
	}
	for _, u := range d.vrrp {
		goVRRP("VIPs of "+u.cfg.Name, u.vips.Run)
		goVRRP("VRRP instance "+u.cfg.Name, u.inst.Run)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-stop.Done():
				return
			case <-hup:
				d.reload()
			}
		}
	}()

	<-stop.Done()
	d.log.Info("stopping: VRRP first, then listeners")
	stopVRRP()
	vrrpWG.Wait()
	stopRest()
	restWG.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
