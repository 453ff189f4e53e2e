package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// Limits and defaults of the hooks.
const (
	// DefaultTimeout bounds a hook's run when Config.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout is the longest Config.Timeout accepted: a hook holds the
	// later hooks of its instance back for as long as it runs.
	MaxTimeout = 10 * time.Minute
	// DefaultQueueLen is how many state changes wait for their hooks, at
	// most, when Options.QueueLen is 0; further ones are dropped.
	DefaultQueueLen = 16
	// MaxOutputLines is how many lines of a run's output (standard output
	// and error together) are logged; the rest are counted.
	MaxOutputLines = 100
	// MaxLineLen is the longest line logged; longer ones are cut.
	MaxLineLen = 1024
)

// Kind names a hook by the state change that runs it.
type Kind uint8

// Kinds.
const (
	// Master runs when the instance becomes MASTER.
	Master Kind = iota + 1
	// Backup runs when it becomes BACKUP.
	Backup
	// Fault runs when it goes to FAULT.
	Fault
	// Stop runs when it stops (goes back to INIT).
	Stop
)

// Kinds lists every Kind.
var Kinds = [...]Kind{Master, Backup, Fault, Stop}

// String returns the state a hook of kind k reports in RMQLB_STATE:
// MASTER, BACKUP, FAULT or STOP.
func (k Kind) String() string {
	switch k {
	case Master:
		return "MASTER"
	case Backup:
		return "BACKUP"
	case Fault:
		return "FAULT"
	case Stop:
		return "STOP"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Key returns the configuration key and metric label of k: master,
// backup, fault or stop.
func (k Kind) Key() string { return strings.ToLower(k.String()) }

// ParseKind returns the Kind whose Key is s: master, backup, fault or
// stop.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if s == k.Key() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%q is no hook: want master, backup, fault or stop", s)
}

// Config is the hooks of one instance. The zero value runs none.
type Config struct {
	// Master, Backup, Fault and Stop are the argument vectors of the hooks
	// (see CheckArgv); nil runs none for that change.
	Master, Backup, Fault, Stop []string
	// Timeout bounds each run; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Argv returns the argument vector of the hook of kind k, nil if none.
func (c *Config) Argv(k Kind) []string {
	switch k {
	case Master:
		return c.Master
	case Backup:
		return c.Backup
	case Fault:
		return c.Fault
	case Stop:
		return c.Stop
	}
	return nil
}

// timeout returns the timeout in effect.
func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// CheckArgv checks a hook's argument vector: at least argv[0], which must
// be an absolute path (hooks run without a shell and without a search of
// PATH), and no NUL byte in any argument.
func CheckArgv(argv []string) error {
	if len(argv) == 0 {
		return errors.New("needs at least the program's absolute path")
	}
	if !filepath.IsAbs(argv[0]) {
		return fmt.Errorf("program %q is not an absolute path (hooks run without a shell or a PATH search)", argv[0])
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %d contains a NUL byte", i)
		}
	}
	return nil
}

// CheckTimeout checks Config.Timeout: 0 (the default) or 1 ms..MaxTimeout.
func CheckTimeout(d time.Duration) error {
	if d != 0 && (d < time.Millisecond || d > MaxTimeout) {
		return fmt.Errorf("must be 1ms..%v, not %v", MaxTimeout, d)
	}
	return nil
}

// Validate checks every hook and the timeout: each problem is a
// *fielderr.Error naming the key (master, backup, fault, stop, timeout),
// joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	for _, k := range Kinds {
		if argv := c.Argv(k); argv != nil {
			if err := CheckArgv(argv); err != nil {
				errs = append(errs, &fielderr.Error{Field: k.Key(), Err: err})
			}
		}
	}
	if err := CheckTimeout(c.Timeout); err != nil {
		errs = append(errs, &fielderr.Error{Field: "timeout", Err: err})
	}
	return errors.Join(errs...)
}

// CheckProgram reports why the program at path cannot be run on this
// host, nil if it can: it does not exist, is not a regular file, or has
// no execute bit. Whether it exists depends on the host, so callers
// report it as a warning, not as a configuration error.
func CheckProgram(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}
