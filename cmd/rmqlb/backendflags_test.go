package main

import (
	"errors"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
)

// TestBackendFlagsAfterOperands: rmqlb backend takes its flags after the
// backend and the operation too (rmqlb backend amqp/a drain --socket
// PATH), as the other commands do, and a negative weight reaches the
// daemon as a number, which refuses it, not as an unknown flag.
func TestBackendFlagsAfterOperands(t *testing.T) {
	f := newFakeDaemon(t, func(req control.Request) (any, error) {
		if len(req.Args) == 3 && req.Args[2] == "-3" {
			return nil, errors.New("weight -3 out of range 0..65535")
		}
		if len(req.Args) == 3 {
			return control.BackendWeight{Backend: backend.ID{Listener: "amqp", Name: "a"}, Weight: 7, Configured: 10, Override: true}, nil
		}
		return control.BackendAdmin{Backend: backend.ID{Listener: "amqp", Name: "a"}}, nil
	})
	runCLICases(t, f, []cliCase{
		{[]string{"backend", "amqp/a", "drain", "--socket", f.sock}, 0, []string{"backend", "amqp/a", "drain"}, "amqp/a: drain\n", ""},
		{[]string{"backend", "amqp/a", "--socket", f.sock, "ready"}, 0, []string{"backend", "amqp/a", "ready"}, "amqp/a: ready\n", ""},
		{[]string{"backend", "amqp/a", "weight", "7", "--socket", f.sock}, 0, []string{"backend", "amqp/a", "weight", "7"}, "amqp/a: weight 7 (operator's; configured 10)\n", ""},
		{[]string{"backend", "amqp/a", "weight", "-3", "--socket", f.sock}, 1, []string{"backend", "amqp/a", "weight", "-3"}, "", "weight -3 out of range 0..65535"},
	})
}
