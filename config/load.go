package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"syscall"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rmqlb/rmqlb/notify"
)

// Load reads, parses and resolves the file at path (see Parse), and adds
// a warning to Config.Warnings when the file holds a password (auth_pass,
// a check's password) and may be read by others or by an untrusted group
// (see exposed), and for
// every notify hook whose program cannot be run on this host (a hook is
// often installed after its configuration, so this is no error).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, c.hookWarnings()...)
	if fi, err := os.Stat(path); err == nil && exposed(fi) {
		if secret := c.secretField(); secret != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf(
				"%s holds a password (%s, line %d) and is readable by others or by a group other than root's, the daemon's (%s) or this process's (mode %04o): chown root:%s and chmod 640 it (600 for a daemon that runs as root)",
				path, secret, c.Line(secret), DaemonGroup, fi.Mode().Perm(), DaemonGroup))
		}
	}
	return c, nil
}

// DaemonGroup is the group the packaged daemon runs as (the unit's user
// rmqlb): its configuration file is root:rmqlb, mode 0640.
const DaemonGroup = "rmqlb"

// exposed reports whether the file of fi can be read by others, or by a
// group that is not trusted with its secrets: root's, DaemonGroup, or the
// group of this process (a daemon that runs as its own group).
func exposed(fi os.FileInfo) bool {
	perm := fi.Mode().Perm()
	switch {
	case perm&0o004 != 0:
		return true
	case perm&0o040 == 0:
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if st.Gid == 0 || int(st.Gid) == os.Getegid() {
		return false
	}
	g, err := user.LookupGroup(DaemonGroup)
	return err != nil || g.Gid != strconv.FormatUint(uint64(st.Gid), 10)
}

// hookWarnings returns a warning for every notify hook whose program
// cannot be run on this host (notify.CheckProgram).
func (c *Config) hookWarnings() []string {
	var ws []string
	for _, in := range c.VRRP {
		for _, k := range notify.Kinds {
			argv := in.Notify.Argv(k)
			if len(argv) == 0 {
				continue
			}
			if err := notify.CheckProgram(argv[0]); err != nil {
				field := in.Field + ".notify." + k.Key()
				ws = append(ws, fmt.Sprintf("%s (line %d): the hook cannot run on this host: %v", field, c.Line(field), err))
			}
		}
	}
	return ws
}

// secretField returns the path of the first password of c, "" if none.
func (c *Config) secretField() string {
	for _, in := range c.VRRP {
		if in.AuthPass != "" {
			return in.Field + ".auth_pass"
		}
	}
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			if b.Check.Password != "" {
				return b.Check.Field + ".password"
			}
		}
	}
	return ""
}

// Parse parses and resolves a configuration. Unknown keys are errors. On
// failure the error is an Errors value listing every problem with its
// line. Parse accepts exactly what the daemon can run: besides its own
// rules it builds every package's configuration from the result and
// validates it (Build), so that check-config and run never disagree.
func Parse(data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(err)
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErrors(err)
	}
	r := resolver{lines: lineIndex{root: &root}}
	c := r.config(&f)
	r.validateBuilt(c)
	if len(r.errs) > 0 {
		return nil, r.sorted()
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns the YAML library's errors into Errors with lines.
func yamlErrors(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	es := make(Errors, 0, len(msgs))
	for _, m := range msgs {
		fe := FieldError{Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			fe.Line, _ = strconv.Atoi(sm[1])
			fe.Msg = sm[2]
		}
		es = append(es, fe)
	}
	return es
}

// ControlSocketOf returns the control socket named by the file at path,
// reading that key alone: a client command finds the daemon with it even
// when the rest of the file does not parse (a reload of a broken file is
// then refused by the daemon, which says why). DefaultControlSocket when
// the file names none.
func ControlSocketOf(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading config: %w", err)
	}
	var f struct {
		ControlSocket string `yaml:"control_socket"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return "", fmt.Errorf("reading control_socket of %s: %w", path, err)
		}
	}
	if f.ControlSocket == "" {
		return DefaultControlSocket, nil
	}
	return f.ControlSocket, nil
}
