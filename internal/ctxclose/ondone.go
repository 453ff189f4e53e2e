package ctxclose

import (
	"context"
	"io"
)

// OnDone calls c.Close, in a goroutine of its own, once ctx is done. The
// returned wait function, called once by the owner of c when it is
// finished with c (typically deferred by the loop that serves c), returns
// when c is closed by OnDone, or when it never will be: when ctx is done
// it returns only after c.Close has returned, calling c.Close itself should
// the close not have begun; when ctx is not done it cancels the close at
// once and leaves c as it is. Its result is Close's error, nil when OnDone
// did not close c.
func OnDone(ctx context.Context, c io.Closer) (wait func() error) {
	var err error
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		err = c.Close()
	})
	return func() error {
		switch {
		case !stop(): // begun: wait for it to end
			<-closed
			return err
		case ctx.Err() != nil: // done, yet the close had not begun
			return c.Close()
		}
		return nil
	}
}
