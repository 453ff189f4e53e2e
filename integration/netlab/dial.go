package netlab

import (
	"context"
	"fmt"
	"net"
	"time"
)

// DialContext dials address from the host's namespace. Only the socket's
// creation and connect happen on a thread in the namespace; the returned
// connection may be used from any goroutine.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dialing %s from %s: %w", address, h.Name, err)
	}
	return c, nil
}

// Dialer returns a dial function (the shape of amqp091.Config.Dial) that
// dials from the host's namespace with the given connect timeout.
func (h *Host) Dialer(timeout time.Duration) func(network, address string) (net.Conn, error) {
	return func(network, address string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return h.DialContext(ctx, network, address)
	}
}
