package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rmqlb/rmqlb/internal/regfile"
	"github.com/rmqlb/rmqlb/notify"
)

// MaxConfigSize bounds the configuration file: 64 MiB, some twenty
// times a file whose listeners list 100000 client addresses inline.
const MaxConfigSize = 64 << 20

// readConfigFile reads the configuration file at path: a regular file
// (a pipe or a device in its place would hold a reload until it is
// written to; regfile) of at most MaxConfigSize bytes.
func readConfigFile(path string) ([]byte, error) {
	data, err := regfile.Read(path, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return data, nil
}

// Load reads, parses and resolves the file at path (see Parse, whose
// warnings hold for any host), and adds the warnings of this host: a file
// that holds a password (auth_pass, a check's password) and may be read
// by others or by an untrusted group (see exposed), a file that others may
// change (notify.CheckSafe: its hooks run as the daemon), every notify hook
// whose program cannot be run here or is unsafe to run (a hook is often
// installed after its configuration, so this is no error), a listener
// bound to no address of this host and an instance whose interface is
// not here (Config.Lacks) and, run as root, a file the
// daemon reads while it runs that the packaged daemon's user could not
// read (unreadableWarnings). A check's TLS files that
// this process cannot read or parse are errors (an Errors value), as the
// file's own problems are: the daemon would check every such backend
// DOWN.
func Load(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parse(data, readClientListFile)
	if err != nil {
		return nil, err
	}
	c.Source.Path = path
	if es := c.tlsErrors(); len(es) > 0 {
		return nil, es
	}
	owners := notify.TrustedOwners()
	c.Warnings = append(c.Warnings, c.hookWarnings(owners)...)
	if local, err := HostAddrs(); err == nil {
		c.Lacks.Binds = c.missingBinds(local)
	}
	c.Lacks.Interfaces = c.missingInterfaces(net.InterfaceByName)
	c.Warnings = append(c.Warnings, c.Lacks.Warnings()...)
	if unsafe := notify.FindUnsafe(path, owners...); unsafe != nil {
		c.Warnings = append(c.Warnings, fmt.Sprintf(
			"%s: %s %s: whoever can change the file could make the daemon run commands (a notify hook) and move its VIPs; it, and every directory above it, should be owned by root and writable by no one else",
			path, unsafe.Path, unsafe.Problem))
	}
	warned := map[string]bool{}
	for _, l := range c.Listeners {
		for _, f := range l.ListFiles() {
			if warned[f.Path] {
				continue
			}
			warned[f.Path] = true
			if unsafe := notify.FindUnsafe(f.Path, owners...); unsafe != nil {
				c.Warnings = append(c.Warnings, fmt.Sprintf(
					"%s: %s %s: whoever can change the file chooses which clients listener %s serves; it, and every directory above it, should be owned by root and writable by no one else",
					f.Path, unsafe.Path, unsafe.Problem, l.Name))
			}
		}
	}
	if r := daemonReader(); r != nil {
		c.Warnings = append(c.Warnings, c.unreadableWarnings(r, path)...)
	}
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

// HookWarnings returns a warning for every notify hook whose program
// cannot be run on this host (notify.CheckProgram), or that the daemon
// refuses to run (notify.CheckSafe: others may change it). Load adds
// them to Warnings; rmqlb import, which has no file to load, asks for
// them.
func (c *Config) HookWarnings() []string {
	return c.hookWarnings(notify.TrustedOwners())
}

// hookWarnings is HookWarnings with the users trusted to own a hook
// (notify.TrustedOwners) given.
func (c *Config) hookWarnings(owners []int) []string {
	var ws []string
	for _, in := range c.VRRP {
		for _, k := range notify.Kinds {
			argv := in.Notify.Argv(k)
			if len(argv) == 0 {
				continue
			}
			field := in.Field + ".notify." + k.Key()
			if err := notify.CheckProgram(argv[0]); err != nil {
				ws = append(ws, fmt.Sprintf("%s (line %d): the hook cannot run on this host: %v", field, c.Line(field), err))
			} else if unsafe := notify.FindUnsafe(argv[0], owners...); unsafe != nil {
				ws = append(ws, fmt.Sprintf("%s (line %d): the daemon will not run the hook: %v", field, c.Line(field), unsafe))
			}
		}
	}
	return ws
}

// tlsErrors returns a problem, at the check section's tls key, for every
// check section whose TLS files cannot be read or parsed by this process
// (once for a listener's section that its backends share).
func (c *Config) tlsErrors() Errors {
	seen := map[string]bool{}
	var es Errors
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			ck := b.Check
			if ck.TLS == nil || seen[ck.Field] {
				continue
			}
			seen[ck.Field] = true
			if _, err := ck.TLS.Load(ck.Address); err != nil {
				f := ck.Field + ".tls"
				es = append(es, FieldError{Field: f, Line: c.Line(f), Msg: err.Error()})
			}
		}
	}
	return es
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
// validates it (Build), so that check-config and run never disagree. Its
// Warnings hold whatever the host: among them every setting that lets a
// stop outlast the packaged unit's TimeoutStopSec (see
// stopBudgetWarnings). It reads no file: a file of client addresses
// (allowed_clients_file, denied_clients_file) is an error, which Load
// reads.
func Parse(data []byte) (*Config, error) { return parse(data, nil) }

// ParseWithFiles is Parse, reading the files of client addresses the
// configuration names with readFile (nil: from the file system, as Load
// does): for a configuration written elsewhere that names files, such as
// rmqlb import's, checked as any host would take it (no warning of this
// host's, which Load adds).
func ParseWithFiles(data []byte, readFile func(name string) ([]byte, error)) (*Config, error) {
	if readFile == nil {
		readFile = readClientListFile
	}
	return parse(data, readFile)
}

// parse is Parse, reading the files of client addresses with readFile
// (nil: none, as Parse).
func parse(data []byte, readFile func(name string) ([]byte, error)) (*Config, error) {
	return parseWith(data, resolver{readFile: readFile})
}

// parseWith is parse with the resolver r, whose lines it sets: r says how
// the files the configuration names are read.
func parseWith(data []byte, r resolver) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, tabHints(yamlErrors(err, lineIndex{}), data)
	}
	lines := lineIndex{root: &root}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// Unknown keys leave the rest of the file decoded: the problems of
	// the keys around them are reported with them, so that a typo does
	// not hide them until the next try. Values of the wrong type are
	// decoded as zero, so the rules are not run on them.
	var unknown error
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		if !onlyUnknownKeys(err) {
			return nil, yamlErrors(err, lines)
		}
		unknown = yamlErrors(err, lines)
	}
	// A second document would be ignored: refuse one that is not empty.
	for {
		var rest yaml.Node
		err := dec.Decode(&rest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlErrors(err, lines)
		}
		if !emptyDocument(&rest) {
			return nil, Errors{{Line: rest.Line, Msg: "a second YAML document (after ---): the configuration is one document"}}
		}
	}
	r.lines = lines
	if es, ok := unknown.(Errors); ok {
		r.errs = append(r.errs, es...)
		r.cols = append(r.cols, make([]int, len(es))...)
	}
	c := r.config(&f)
	r.validateBuilt(c)
	if len(r.errs) > 0 {
		return nil, r.sorted()
	}
	c.Source = FileRead{Digest: sha256.Sum256(data), Size: int64(len(data))}
	c.Files = r.files
	return c, nil
}

// emptyDocument reports whether n, a YAML document, holds nothing (a
// "---" line with only comments or nothing after it).
func emptyDocument(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag != "!!null" {
			return false
		}
	}
	return true
}

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknown  = regexp.MustCompile("^field (.+) not found in type (.+)$")
	yamlBadValue = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// onlyUnknownKeys reports whether err, the YAML library's, is about
// unknown keys alone.
func onlyUnknownKeys(err error) bool {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return false
	}
	for _, m := range te.Errors {
		sm := yamlLine.FindStringSubmatch(m)
		if sm == nil || !yamlUnknown.MatchString(sm[2]) {
			return false
		}
	}
	return true
}

// yamlErrors turns the YAML library's errors into Errors with lines, and,
// where lines finds the entry, its field and a message in the file's own
// terms (the library names Go types).
func yamlErrors(err error, lines lineIndex) error {
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
			fe.Field, fe.Msg = yamlField(fe.Line, fe.Msg, lines)
		}
		es = append(es, fe)
	}
	return es
}

// tabHints adds to each problem whose line is indented with a tab that
// YAML indents with spaces only: the library's own message ("found
// character that cannot start any token") does not say so.
func tabHints(err error, data []byte) error {
	var es Errors
	if !errors.As(err, &es) {
		return err
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, e := range es {
		if e.Line < 1 || e.Line > len(lines) {
			continue
		}
		l := lines[e.Line-1]
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			es[i].Msg += " (a tab in the indentation: YAML indents with spaces only)"
		}
	}
	return es
}

// yamlField returns the field of the YAML library's message msg about
// line, and the message reworded, when lines finds it; else "" and msg.
func yamlField(line int, msg string, lines lineIndex) (string, string) {
	if sm := yamlUnknown.FindStringSubmatch(msg); sm != nil {
		hint := keyHint(sm[2], sm[1])
		if hint != "" {
			hint = " (" + hint + ")"
		}
		if p, _, ok := lines.find(line, sm[1], ""); ok {
			return p.String(), "unknown key" + hint
		}
		return "", fmt.Sprintf("unknown key %q%s", sm[1], hint)
	}
	sm := yamlBadValue.FindStringSubmatch(msg)
	if sm == nil {
		return "", msg
	}
	tag, value, into := sm[1], sm[2], sm[3]
	var want string
	switch {
	case into == "time.Duration" || into == "*time.Duration":
		want = "a duration with its unit, such as 300s or 100ms"
	case into == "bool":
		want = "true or false"
	case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint") || strings.HasPrefix(into, "*int"):
		want = "a whole number"
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "config.") || strings.HasPrefix(into, "*config."):
		want = "a mapping of keys"
	case into == "string":
		want = "a string"
	default:
		return "", msg
	}
	var p path
	var ok bool
	got := value
	switch tag {
	case "seq", "map":
		// The library names no value of a list or a mapping.
		kind, what := yaml.SequenceNode, "a list"
		if tag == "map" {
			kind, what = yaml.MappingNode, "a mapping"
		}
		p, ok = lines.findKind(line, kind)
		got = what
	default:
		var full string
		if p, full, ok = lines.find(line, "", value); ok {
			value = full
		}
		got = value
		if tag == "str" {
			got = strconv.Quote(value)
		}
	}
	if !ok {
		return "", fmt.Sprintf("must be %s, not %s", want, got)
	}
	return p.String(), fmt.Sprintf("must be %s, not %s", want, got)
}

// LoadVRRP reads and parses the file at path for its VRRP instances, as
// Load resolves them, without reading the files the configuration names
// (files of client addresses, a check's TLS files) and with no warning:
// for rmqlb remove-stale, which needs the VIPs of a daemon that no longer
// runs, when files it read may be gone with it. The rest of the file must
// be valid, as for Load; the error is an Errors value listing every
// problem with its line.
func LoadVRRP(path string) ([]VRRPInstance, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parseWith(data, resolver{skipFiles: true})
	if err != nil {
		return nil, err
	}
	return c.VRRP, nil
}

// ControlSocketOf returns the control socket named by the file at path,
// reading that key alone: a client command finds the daemon with it even
// when the rest of the file does not parse (a reload of a broken file is
// then refused by the daemon, which says why). DefaultControlSocket when
// the file names none.
func ControlSocketOf(path string) (string, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return "", err
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
