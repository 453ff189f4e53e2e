package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/rawio"
)

// MaxRealTimePriority is the highest Options.RealTimePriority: the
// highest SCHED_FIFO priority of Linux.
const MaxRealTimePriority = 99

// CheckRealTimePriority checks an Options.RealTimePriority: 0 (off) or
// 1..MaxRealTimePriority.
func CheckRealTimePriority(prio int) error {
	if prio < 0 || prio > MaxRealTimePriority {
		return fmt.Errorf("must be 0 (off) or 1..%d, not %d", MaxRealTimePriority, prio)
	}
	return nil
}

// rtReadBatch bounds the adverts read per wake-up, so that a flood of
// packets cannot keep the loop from its timers (the next wait returns at
// once for the rest).
const rtReadBatch = 64

// runRealTime is Run's event loop when Options.RealTimePriority is set: a
// goroutine locked to an OS thread of its own, given the SCHED_FIFO class,
// waits in the kernel (ppoll(2)) for the socket of own, for an eventfd
// that kick writes, and for the machine's next deadline, so that neither
// sending an advert nor hearing one waits for the Go scheduler to notice a
// timer or a readable socket. It steps the machine as runLoop does and
// returns when ctx is done (nil) or the socket fails. netns is the network
// namespace Run's thread is in, which the new thread enters if it is in
// another one (Rebind looks interfaces up in the thread's namespace); nil:
// unknown, stay.
//
// The thread is never unlocked: when the goroutine ends, the runtime ends
// the thread, and its scheduling class with it.
func (i *Instance) runRealTime(ctx context.Context, own *IPv4Transport, ow *ownerWorker, netns *os.File) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- i.realTimeLoop(ctx, own, ow, netns)
	}()
	return <-errc
}

func (i *Instance) realTimeLoop(ctx context.Context, own *IPv4Transport, ow *ownerWorker, netns *os.File) error {
	if err := enterNetns(netns); err != nil {
		return fmt.Errorf("%w: %w", errRealTimeSetup, err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("%w: creating the VRRP loop's eventfd: %w", errRealTimeSetup, err)
	}
	// This loop waits for the socket itself: in the runtime's poller too,
	// each advert heard would also wake a thread waiting there. Nothing
	// after this may fail the setup: Run's fallback, the ordinary loop,
	// reads through the poller.
	sockfd, err := own.leavePoller()
	if err != nil {
		unix.Close(evfd)
		return fmt.Errorf("%w: %w", errRealTimeSetup, err)
	}
	i.setRealTime(setRealTimeScheduling(i.opt.RealTimePriority))
	i.wakeMu.Lock()
	i.wakeFD = evfd
	i.wakeMu.Unlock()
	defer func() {
		i.wakeMu.Lock()
		unix.Close(i.wakeFD)
		i.wakeFD = -1
		i.wakeMu.Unlock()
	}()
	defer context.AfterFunc(ctx, i.kick)()
	// Something may have changed before the eventfd was there.
	lw := &loopWake{i: i, tr: own, own: own, ow: ow}
	lw.start()
	fds := []unix.PollFd{{Fd: int32(sockfd), Events: unix.POLLIN}, {Fd: int32(evfd), Events: unix.POLLIN}}
	buf := make([]byte, 1500)
	var counter [8]byte
	var ts unix.Timespec
	for ctx.Err() == nil {
		var tsp *unix.Timespec
		if wake, ok := lw.next(); ok {
			ts = unix.NsecToTimespec(int64(max(wake.Sub(i.clock.Now()), 0)))
			tsp = &ts
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Ppoll(fds, tsp, nil); err != nil && err != unix.EINTR {
			return fmt.Errorf("waiting for VRRP adverts: %w", err)
		}
		if _, err := i.readPending(own, ow, sockfd, buf); err != nil {
			return err
		}
		kicked := fds[1].Revents != 0
		if kicked {
			_, _ = unix.Read(evfd, counter[:])
			if ctx.Err() != nil {
				return nil
			}
		}
		lw.woken(kicked)
	}
	return nil
}

// readPending reads and handles the packets waiting on the socket fd, at
// most rtReadBatch of them, and returns how many it read.
func (i *Instance) readPending(tr Transport, ow *ownerWorker, fd int, buf []byte) (int, error) {
	for k := range rtReadBatch {
		n, err := rawio.Read(fd, buf)
		switch {
		case err == unix.EAGAIN:
			return k, nil
		case err != nil:
			return k, fmt.Errorf("receiving VRRP advert: %w", err)
		}
		n, info, err := unwrapIPv4(buf, n)
		if err != nil {
			i.drop(err)
			continue
		}
		i.receive(tr, ow, received{b: buf[:n], info: info})
	}
	return rtReadBatch, nil
}

// wakeRealTime makes the real-time loop, if it runs, look at the desired
// state (kick calls it).
func (i *Instance) wakeRealTime() {
	one := [8]byte{1}
	i.wakeMu.Lock()
	if i.wakeFD >= 0 {
		_, _ = unix.Write(i.wakeFD, one[:])
	}
	i.wakeMu.Unlock()
}

// setRealTime records (for Snapshot) and logs how the real-time loop is
// scheduled: err is setRealTimeScheduling's.
func (i *Instance) setRealTime(err error) {
	prio := i.opt.RealTimePriority
	what := fmt.Sprintf("SCHED_FIFO priority %d", prio)
	if err != nil {
		what = fmt.Sprintf("normal priority: %v", err)
		i.log.Warn("VRRP loop runs at normal priority: cannot set its real-time priority", zap.Int("priority", prio), zap.Error(err))
	} else {
		i.log.Info("VRRP loop runs on a thread of its own with a real-time priority", zap.String("scheduling", what))
	}
	i.mu.Lock()
	i.realTime = what
	i.mu.Unlock()
}

// errRealTimeSetup: the real-time loop could not start (Run then runs
// the ordinary one).
var errRealTimeSetup = errors.New("setting up the real-time VRRP loop")

// errNoSysNice: setting a real-time class was refused.
var errNoSysNice = errors.New("not permitted (needs CAP_SYS_NICE, or an RLIMIT_RTPRIO that allows the priority)")

// setRealTimeScheduling puts the calling thread in the SCHED_FIFO class at
// priority prio (1..99), with SCHED_RESET_ON_FORK so that no process the
// thread starts inherits it.
func setRealTimeScheduling(prio int) error {
	attr := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_FIFO,
		Priority: uint32(prio),
		Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
	}
	err := unix.SchedSetAttr(0, &attr, 0)
	if errors.Is(err, unix.EPERM) {
		return errNoSysNice
	}
	if err != nil {
		return fmt.Errorf("setting SCHED_FIFO priority %d: %w", prio, err)
	}
	return nil
}

// threadNetns opens the network namespace of the calling thread, or
// returns nil if it cannot.
func threadNetns() *os.File {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil
	}
	return f
}

// enterNetns moves the calling (locked) thread into the network namespace
// ns unless it is in it already (nil: stay).
func enterNetns(ns *os.File) error {
	if ns == nil {
		return nil
	}
	var want, have unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &want); err != nil {
		return fmt.Errorf("entering the network namespace of the VRRP instance: %w", err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &have); err == nil && have.Dev == want.Dev && have.Ino == want.Ino {
		return nil
	}
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering the network namespace of the VRRP instance: %w", err)
	}
	return nil
}
