package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
)

// Package is the part of `go list -json` output that Check reads.
type Package struct {
	ImportPath string
	// Imports are the package's direct imports, test files excluded.
	Imports []string
	// Module is the module the package belongs to (nil for the standard
	// library).
	Module *struct {
		Path string
		Main bool
	}
}

// Violation is one package depending on a package a rule forbids it, or a
// package of the module outside every group of the table.
type Violation struct {
	// Pkg is the package (relative to the module) that breaks the rule.
	Pkg string
	// Chain leads from Pkg to the forbidden package by direct imports
	// (relative to the module); empty for an unclassified package.
	Chain []string
	// Rule is the rule broken; nil for an unclassified package.
	Rule *Rule
}

func (v Violation) String() string {
	if v.Rule == nil {
		return fmt.Sprintf("%s: in no group of the import table (internal/importrules/rules.go): add it to the group it belongs to", v.Pkg)
	}
	return fmt.Sprintf("%s must not depend on %s (%s): %s", v.Pkg, v.Chain[len(v.Chain)-1], strings.Join(v.Chain, " -> "), v.Rule.Why)
}

// Check applies rules to the packages of the module mod among pkgs (the
// output of `go list -deps -json`, other modules and the standard library
// included or not) and returns the violations, sorted by package. Every
// package of mod must match known.
func Check(mod string, pkgs []Package, rules []Rule, known []string) []Violation {
	imports := map[string][]string{} // module-relative path -> module-relative imports
	for _, p := range pkgs {
		rel, ok := relative(mod, p.ImportPath)
		if !ok {
			continue
		}
		var in []string
		for _, imp := range p.Imports {
			if r, ok := relative(mod, imp); ok {
				in = append(in, r)
			}
		}
		imports[rel] = in
	}
	var names []string
	for n := range imports {
		names = append(names, n)
	}
	slices.Sort(names)

	var vs []Violation
	for _, n := range names {
		if !matchAny(known, n) {
			vs = append(vs, Violation{Pkg: n})
		}
		chains := reach(n, imports)
		for i := range rules {
			r := &rules[i]
			if !matchAny(r.From, n) {
				continue
			}
			for _, d := range sortedKeys(chains) {
				if matchAny(r.Forbid, d) {
					vs = append(vs, Violation{Pkg: n, Chain: chains[d], Rule: r})
				}
			}
		}
	}
	return vs
}

// reach returns every package from reaches through imports (itself
// excluded), each with the shortest chain of imports that leads to it.
func reach(from string, imports map[string][]string) map[string][]string {
	chains := map[string][]string{from: {from}}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range imports[p] {
			if _, seen := chains[q]; seen {
				continue
			}
			chains[q] = append(slices.Clone(chains[p]), q)
			queue = append(queue, q)
		}
	}
	delete(chains, from)
	return chains
}

func sortedKeys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// relative returns path relative to the module mod ("." for the module's
// root package), or false for a path outside it.
func relative(mod, path string) (string, bool) {
	if path == mod {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, mod+"/")
	return rel, ok
}

// Match reports whether the module-relative package path pkg matches
// pattern: "..." matches every package, "x/..." matches x and every package
// below it, anything else only itself.
func Match(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchAny(patterns []string, pkg string) bool {
	for _, p := range patterns {
		if Match(p, pkg) {
			return true
		}
	}
	return false
}

// Load runs `go list -deps -json ./...` in dir, a directory of a module,
// and returns the main module's path and every package listed.
func Load(dir string) (string, []Package, error) {
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("running go list -deps -json ./... in %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return Decode(bytes.NewReader(out))
}

// Decode reads the stream of JSON objects `go list -json` prints and
// returns the main module's path and the packages.
func Decode(r io.Reader) (string, []Package, error) {
	dec := json.NewDecoder(r)
	var mod string
	var pkgs []Package
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("decoding go list output: %w", err)
		}
		if p.Module != nil && p.Module.Main {
			mod = p.Module.Path
		}
		pkgs = append(pkgs, p)
	}
	if mod == "" {
		return "", nil, errors.New("decoding go list output: no package of the main module")
	}
	return mod, pkgs, nil
}
