package lab

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered h's network namespace, and
// waits for it. Sockets created by fn belong to that namespace for their
// whole life and may be used from any goroutine afterwards. fn must not
// start goroutines that expect to be in the namespace (they are not).
//
// If the thread cannot return to the original namespace it is not reused:
// its goroutine exits while still locked, which makes the runtime discard
// the thread.
func (l *Lab) Do(h Host, fn func() error) error {
	target, err := os.Open("/run/netns/" + h.Netns)
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", h.Netns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering netns %s: %w", h.Netns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime destroys it on exit.
			errc <- fmt.Errorf("returning from netns %s: %w", h.Netns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
