package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// seeds adds the files matching pattern to f's corpus.
func seeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		names, _ := filepath.Glob(p)
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// fuzzImport runs Import on files and checks what holds for any input:
// no panic; an error is a *SyntaxError with a line; every note has a
// line; and a file with an instance or a listener passes config.Parse,
// its list files read from files.
func fuzzImport(t *testing.T, src Sources, files memFiles) {
	r, err := Import(src, files)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.File == "" {
			t.Fatalf("error without file and line: %v", err)
		}
		return
	}
	for _, n := range r.Notes {
		if n.Pos.Line < 1 || n.Pos.File == "" {
			t.Fatalf("note without file and line: %v", n)
		}
	}
	y := string(r.YAML)
	if strings.Contains(y, "\nvrrp_instances:") || strings.Contains(y, "\nlisteners:") {
		if _, err := config.ParseWithFiles(r.YAML, files.ReadFile); err != nil {
			t.Fatalf("config.ParseWithFiles refuses the file written: %v\n%s", err, y)
		}
	}
}

// FuzzKeepalived reads a keepalived.conf that may include itself (as
// inc.conf) beside a fixed haproxy.cfg, so that scripts and virtual
// servers meet listeners.
func FuzzKeepalived(f *testing.F) {
	seeds(f, "testdata/*/*keepalived.conf", "testdata/*/conf.d/*.conf")
	f.Add([]byte("include inc.conf\n"))
	f.Add([]byte("global_defs {\n vrrp_down_timer_adverts 5\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n down_timer_adverts 7\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"))
	f.Add([]byte("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n notify /bin/n\n notify_stop /bin/s\n}\n"))
	f.Add([]byte("vrrp_sync_group G {\n group {\n V\n }\n notify /bin/g\n notify_master /bin/m\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"))
	f.Add([]byte("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n s weight -3\n }\n}\nvrrp_script s {\n script \"nc -z 127.0.0.1 5672\"\n}\n"))
	f.Add([]byte("vrrp_track_process p {\n process haproxy\n quorum 2\n weight -5 reverse\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_process {\n p weight -3 noreverse\n q\n }\n}\n"))
	haproxy, err := os.ReadFile("testdata/tier/haproxy.cfg")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := memFiles{"/k/keepalived.conf": string(data), "/k/inc.conf": string(data), "/k/haproxy.cfg": string(haproxy)}
		fuzzImport(t, Sources{Keepalived: "/k/keepalived.conf", HAProxy: "/k/haproxy.cfg"}, files)
	})
}

// FuzzHAProxy reads an haproxy.cfg beside a fixed keepalived.conf.
func FuzzHAProxy(f *testing.F) {
	seeds(f, "testdata/*/haproxy.cfg")
	f.Add([]byte("listen a\n bind :1\n server s 1.2.3.4:5 check\n"))
	f.Add([]byte("listen a\n bind :1 tcp-ut 30s\n default-server tcp-ut 20000\n server s 1.2.3.4:5 check tcp-ut 1m\n server t 1.2.3.4:6 tcp-ut 40d\n"))
	f.Add([]byte("listen a\n bind :1 tcp-ut\n server s 1.2.3.4:5 check tcp-ut\n"))
	f.Add([]byte("global\n hard-stop-after 30s\nlisten a\n bind :1\n server s 1.2.3.4:5 check\n"))
	f.Add([]byte("listen a\n bind :1\n stick-table type ip size 1k store conn_cur\n tcp-request connection track-sc0 src\n acl n sc_conn_cur(0) ge 5\n tcp-request connection reject if n\n tcp-request connection reject if { src_conn_cur gt 2 }\n server s 1.2.3.4:5\n"))
	f.Add([]byte("listen a\n bind :1\n acl in src -n -f /k/keepalived.conf -f rel.lst -m ip -- 1.2.3.4\n tcp-request content accept if in\n tcp-request content reject\n server s 1.2.3.4:5\n"))
	f.Add([]byte("frontend a\n bind :1\n acl in src 10.1.2.3/8 ::ffff:1.2.0.0/112 1.2.3.0/255.255.255.0\n tcp-request connection reject unless in\n default_backend b\nbackend b\n tcp-request content reject if !{ src 10.0.0.0/16 }\n server s 1.2.3.4:5\n"))
	f.Add([]byte("listen a\n bind :5672,:5671-5673\n server s 1.2.3.4 check port 5672\n server t 1.2.3.5:+1000\n server u 1.2.3.6:-5671\n"))
	f.Add([]byte("listen a\n bind :1\n acl ok src -f /k/allow.lst 10.9.9.9\n tcp-request connection reject unless ok\n tcp-request content reject if { src -f /k/masked.lst }\n server s 1.2.3.4:5\n"))
	keepalived, err := os.ReadFile("testdata/blog/rabbitmq01-keepalived.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Two list files: one rmqlb reads as HAProxy does, one whose
		// prefix HAProxy masks and rmqlb refuses.
		files := memFiles{"/k/keepalived.conf": string(keepalived), "/k/haproxy.cfg": string(data),
			"/k/allow.lst": "# apps\n10.1.0.0/16\n192.0.2.7\n", "/k/masked.lst": "10.2.3.4/16\n"}
		fuzzImport(t, Sources{Keepalived: "/k/keepalived.conf", HAProxy: "/k/haproxy.cfg"}, files)
	})
}

// FuzzIPVSAdm reads ipvsadm -Sn output beside a fixed keepalived.conf.
func FuzzIPVSAdm(f *testing.F) {
	seeds(f, "testdata/*/ipvsadm.rules")
	f.Add([]byte("-A -f 1 -s wrr -p\n-a -f 1 -r 10.0.0.1:5672 -g -w 1\n"))
	keepalived, err := os.ReadFile("testdata/lvs/keepalived.conf")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := memFiles{"/k/keepalived.conf": string(keepalived), "/k/ipvsadm.rules": string(data)}
		fuzzImport(t, Sources{Keepalived: "/k/keepalived.conf", IPVSAdm: "/k/ipvsadm.rules"}, files)
	})
}
