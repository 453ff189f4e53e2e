package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ChildWith returns the pid of a child process of pid whose command line
// holds arg (for example rmqlb's advert sender, "vrrp-sender"), or 0 when
// there is none.
func ChildWith(pid int, arg string) int {
	if c := ChildrenWith(pid, arg); len(c) > 0 {
		return c[0]
	}
	return 0
}

// ChildrenWith returns the pids, in order, of the child processes of pid
// whose command line holds arg.
func ChildrenWith(pid int, arg string) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		dir := filepath.Dir(st)
		if cmd, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && strings.Contains(string(cmd), arg) {
			n, _ := strconv.Atoi(filepath.Base(dir))
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Exited reports whether process pid has exited: gone, or a zombie not
// reaped yet.
func Exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
