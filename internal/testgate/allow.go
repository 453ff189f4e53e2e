package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// allowed is one entry of the skip allow-list.
type allowed struct {
	pkg, test, reason string
	line              int
}

// parseAllowList reads the allow-list format (see the package doc). An
// entry without a reason, or a test named twice, is an error.
func parseAllowList(r io.Reader) ([]allowed, error) {
	var list []allowed
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want PACKAGE TEST REASON, got %q", n, line)
		}
		a := allowed{pkg: f[0], test: f[1], reason: strings.Join(f[2:], " "), line: n}
		key := a.pkg + " " + a.test
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s %s is already listed on line %d", n, a.pkg, a.test, prev)
		}
		seen[key] = n
		list = append(list, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading allow-list: %w", err)
	}
	return list, nil
}

// lookup returns the entry that allows test of package pkg (a full import
// path) to skip, or nil.
func lookup(list []allowed, pkg, test string) *allowed {
	for i := range list {
		a := &list[i]
		if a.test == test && (pkg == a.pkg || strings.HasSuffix(pkg, "/"+a.pkg)) {
			return a
		}
	}
	return nil
}
