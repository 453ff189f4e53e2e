package migrate

import (
	"bytes"
	"strings"
)

// ipvsValued are the ipvsadm options that take a value (long names
// mapped to short ones where they have one).
var ipvsValued = map[string]string{
	"-t": "-t", "--tcp-service": "-t", "-u": "-u", "--udp-service": "-u", "--sctp-service": "--sctp-service",
	"-f": "-f", "--fwmark-service": "-f", "-s": "-s", "--scheduler": "-s", "-M": "-M", "--netmask": "-M",
	"-b": "-b", "--sched-flags": "-b", "--pe": "--pe", "-r": "-r", "--real-server": "-r", "-w": "-w",
	"--weight": "-w", "-x": "-x", "--u-threshold": "-x", "-y": "-y", "--l-threshold": "-y",
	"--tun-type": "--tun-type", "--tun-port": "--tun-port",
}

// ipvsCommands are the commands of an ipvsadm rule, long names mapped to
// short ones.
var ipvsCommands = map[string]string{
	"-A": "-A", "--add-service": "-A", "-E": "-E", "--edit-service": "-E",
	"-a": "-a", "--add-server": "-a", "-e": "-e", "--edit-server": "-e",
	"-D": "-D", "--delete-service": "-D", "-d": "-d", "--delete-server": "-d",
	"-C": "-C", "--clear": "-C", "-Z": "-Z", "--zero": "-Z", "--set": "--set",
	"--start-daemon": "--start-daemon", "--stop-daemon": "--stop-daemon",
}

// ipvsRule is one line of ipvsadm -Sn output, its options by short name.
type ipvsRule struct {
	pos   Pos
	words []string
	cmd   string
	opts  map[string]string
	flags []string
}

// readIPVSAdm reads the rules of ipvsadm -Sn output (ipvsadm-save -n):
// one ipvsadm command line per line, '#' comments.
func readIPVSAdm(path string, files Files, ns *notes) ([]*ipvsRule, error) {
	data, err := files.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ns.file(path)
	var rules []*ipvsRule
	for i, raw := range bytes.Split(data, []byte("\n")) {
		pos := Pos{File: path, Line: i + 1}
		line := string(raw)
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		words := strings.Fields(line)
		if len(words) > 0 && strings.HasSuffix(words[0], "ipvsadm") {
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		if len(rules) >= maxHALines {
			return nil, errAt(pos, "more than %d rules: not ipvsadm -Sn output", maxHALines)
		}
		cmd, ok := ipvsCommands[words[0]]
		if !ok {
			return nil, errAt(pos, "%q is not an ipvsadm command (-A, -a, ...): not ipvsadm -Sn output", words[0])
		}
		r := &ipvsRule{pos: pos, words: words, cmd: cmd, opts: map[string]string{}}
		for k := 1; k < len(words); k++ {
			w := words[k]
			switch {
			case w == "-p" || w == "--persistent":
				r.opts["-p"] = ""
				if k+1 < len(words) && !strings.HasPrefix(words[k+1], "-") {
					k++
					r.opts["-p"] = words[k]
				}
			case ipvsValued[w] != "":
				if k+1 >= len(words) {
					return nil, errAt(pos, "%s needs a value", w)
				}
				k++
				r.opts[ipvsValued[w]] = words[k]
			default:
				r.flags = append(r.flags, w)
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}
