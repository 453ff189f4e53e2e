package balancer

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked of every pipe (F_SETPIPE_SZ). A larger pipe
// moves more per splice(2) call; it costs kernel memory only while data is
// in it, and pipes are only held while data is in flight.
const pipeSize = 256 << 10

// maxIdlePipes is how many empty pipes a loop keeps for reuse. More are
// closed when returned.
const maxIdlePipes = 32

// pipe is one kernel pipe used as the splice(2) buffer between two sockets.
type pipe struct {
	r, w int
	size int
}

// pipePool is a loop's free list of empty pipes. It is owned by one loop
// and not safe for concurrent use.
type pipePool struct {
	free []*pipe
}

// get returns an empty pipe, reusing an idle one when possible.
func (pp *pipePool) get() (*pipe, error) {
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free[n-1] = nil
		pp.free = pp.free[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("creating pipe: %w", err)
	}
	p := &pipe{r: fds[0], w: fds[1], size: 64 << 10}
	if n, err := unix.FcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, pipeSize); err == nil {
		p.size = n
	}
	return p, nil
}

// put returns an empty pipe to the pool (or closes it if the pool is full).
// A pipe that may still hold data must be passed to discard instead.
func (pp *pipePool) put(p *pipe) {
	if len(pp.free) >= maxIdlePipes {
		p.close()
		return
	}
	pp.free = append(pp.free, p)
}

// discard closes a pipe that may hold data.
func (pp *pipePool) discard(p *pipe) { p.close() }

// closeAll closes every idle pipe.
func (pp *pipePool) closeAll() {
	for _, p := range pp.free {
		p.close()
	}
	pp.free = nil
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}
