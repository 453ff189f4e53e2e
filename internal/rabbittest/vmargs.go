package rabbittest

import (
	"bytes"
	"fmt"
	"os"
)

// VMArgs returns the command line of the node's running beam.smp as the kernel has it
// (/proc/PID/cmdline). erl hands the emulator's "+X" flags to beam.smp as "-X": RabbitMQ's
// default "+sbwt none" reads "-sbwt", "none" here. Where a flag repeats, the VM takes the last.
func (n *Node) VMArgs() ([]string, error) {
	pid, err := n.Pid()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, fmt.Errorf("reading beam's command line: %w", err)
	}
	var args []string
	for _, a := range bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		args = append(args, string(a))
	}
	return args, nil
}
