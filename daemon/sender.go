package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp/sendproc"
)

// SenderSubcommand is the argument that makes rmqlb the VRRP advert
// sender process (a hidden subcommand of cmd/rmqlb).
const SenderSubcommand = "vrrp-sender"

// newSender creates (without starting) the advert sender process of cfg
// when it says vrrp_sender: process, for VRRP instances on the real
// transport (Options.NewVRRP nil): the process sends on the instances'
// raw sockets, which an injected transport does not have. It starts with
// the first VRRP unit, also one a reload adds, and stops when a reload
// leaves none (stopIdleSender).
func (d *Daemon) newSender(cfg *config.Config) error {
	if cfg.VRRPSender != config.SenderProcess || d.opt.NewVRRP != nil {
		return nil
	}
	command := d.opt.SenderCommand
	if command == nil {
		name, err := os.Executable()
		if err != nil {
			return fmt.Errorf("setting up the VRRP advert sender: %w", err)
		}
		command = func() *exec.Cmd { return defaultSenderCommand(name, cfg.VRRPRealTimePriority) }
	}
	reg := newPartRegistry(d.reg)
	p, err := sendproc.NewProcess(sendproc.ProcessConfig{Command: command, Logger: d.log, Registerer: reg})
	if err != nil {
		reg.unregisterAll()
		return err
	}
	d.sender, d.senderReg = p, reg
	return nil
}

// selfExe is the program this process runs, even once its file was
// replaced or removed (a package upgrade): the sender process is always
// the daemon's own program, which speaks its protocol.
const selfExe = "/proc/self/exe"

// defaultSenderCommand runs this program (named name in the process
// list) as the sender process, with its standard error (its only output:
// why it failed) on the daemon's, and the Go runtime's asynchronous
// preemption off: the process's goroutines run for microseconds at a
// time (between their waits in the runtime's poller), so a preemption
// signal would only wake them for nothing.
func defaultSenderCommand(name string, rtPriority int) *exec.Cmd {
	args := []string{SenderSubcommand}
	if rtPriority > 0 {
		args = append(args, "--rt-priority", strconv.Itoa(rtPriority))
	}
	cmd := exec.Command(selfExe, args...)
	cmd.Args[0] = name
	cmd.Stderr = os.Stderr
	godebug := "asyncpreemptoff=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	return cmd
}

// startSender starts the advert sender process, if any and not started,
// before a VRRP instance: until it runs the instances send their adverts
// themselves. The caller holds d.mu.
func (d *Daemon) startSender() {
	if d.sender == nil || d.senderPart != nil {
		return
	}
	d.log.Info("starting the VRRP advert sender process")
	d.senderPart = d.parts.start(d.runCtx, "VRRP advert sender", false, d.sender.Run)
}

// stopSender stops the advert sender process after the VRRP instances
// (which stop it sending theirs, with acknowledgement, as they stop).
func (d *Daemon) stopSender() {
	d.mu.Lock()
	p := d.senderPart
	d.mu.Unlock()
	if p != nil {
		p.stop()
		d.log.Debug("VRRP advert sender process stopped", zap.Int("restarts", d.sender.Restarts()))
	}
}

// stopIdleSender stops the advert sender process when no VRRP instance
// is left to send through it (a reload removed the last one, or the first
// one it added could not start): an idle process would hold its memory
// and wake-ups for nothing. The next instance a reload adds starts it
// again (startSender). The caller holds reloadMu (no reload or restart
// adds an instance meanwhile), not d.mu.
func (d *Daemon) stopIdleSender() {
	d.mu.Lock()
	p := d.senderPart
	idle := p != nil && len(d.units) == 0
	if idle {
		d.senderPart = nil
	}
	d.mu.Unlock()
	if idle {
		p.stop()
		d.log.Info("VRRP advert sender process stopped: no VRRP instance is left")
	}
}

// replaceSender stops the advert sender process, if any, and sets up the
// one of cfg (none with vrrp_sender: inline), started by the next VRRP
// unit that starts. Call it with every unit stopped (each stops its
// adverts in the process, acknowledged, as it stops); the caller holds
// reloadMu, not d.mu.
func (d *Daemon) replaceSender(cfg *config.Config) error {
	d.stopSender()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.senderReg != nil {
		d.senderReg.unregisterAll()
	}
	d.sender, d.senderPart, d.senderReg = nil, nil, nil
	return d.newSender(cfg)
}
