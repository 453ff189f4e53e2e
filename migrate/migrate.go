package migrate

import "errors"

// Sources names the files Import translates; an empty name is not read.
type Sources struct {
	// Keepalived is a keepalived.conf: VRRP instances, LVS virtual
	// servers, check scripts. The files it includes are read too.
	Keepalived string
	// HAProxy is an haproxy.cfg: its TCP proxies.
	HAProxy string
	// IPVSAdm is the output of `ipvsadm -Sn`: an LVS table set by hand.
	IPVSAdm string
}

// Result is a translation.
type Result struct {
	// YAML is the rmqlb configuration file.
	YAML []byte
	// Notes are the directives not translated, or not translated as
	// written, in the order of the inputs (keepalived, HAProxy,
	// ipvsadm), by file and line.
	Notes []Note
}

// ErrNoInput is returned when Sources names no file.
var ErrNoInput = errors.New("no input file: give a keepalived, HAProxy or ipvsadm file")

// Import reads the files src names from files and translates them into
// one rmqlb configuration file. An input that cannot be read, or that is
// not its format, is an error (a *SyntaxError when the file was read: it
// has the file and line); everything else that does not translate is a
// Note. The file written may still be refused by config.Parse, for
// example when nothing in the inputs translated: callers check it before
// using it.
func Import(src Sources, files Files) (*Result, error) {
	if src == (Sources{}) {
		return nil, ErrNoInput
	}
	ns := &notes{}
	var (
		ka      *kaT
		ha      *haT
		ipvs    []*listener
		sources []string
	)
	// Every input is read before any is translated, so that a broken
	// file is reported before notes on the others.
	var kaRoot *kaNode
	var haCfg *haConfig
	var ipvsRules []*ipvsRule
	if src.Keepalived != "" {
		root, err := readKeepalived(src.Keepalived, files, ns)
		if err != nil {
			return nil, err
		}
		kaRoot = root
		sources = append(sources, src.Keepalived+" (keepalived)")
	}
	if src.HAProxy != "" {
		cfg, err := readHAProxy(src.HAProxy, files, ns)
		if err != nil {
			return nil, err
		}
		haCfg = cfg
		sources = append(sources, src.HAProxy+" (HAProxy)")
	}
	if src.IPVSAdm != "" {
		rules, err := readIPVSAdm(src.IPVSAdm, files, ns)
		if err != nil {
			return nil, err
		}
		ipvsRules = rules
		sources = append(sources, src.IPVSAdm+" (ipvsadm -Sn)")
	}
	if kaRoot != nil {
		ka = translateKeepalived(kaRoot, ns)
	}
	if haCfg != nil {
		ha = translateHAProxy(haCfg, ns, files)
	}
	ipvs = translateIPVSAdm(ipvsRules, ns)
	d := merge(ka, ha, ipvs, ns)
	if ka != nil {
		ka.sweep(kaRoot)
	}
	out, err := emit(d, sources)
	if err != nil {
		return nil, err
	}
	return &Result{YAML: out, Notes: ns.sorted()}, nil
}
