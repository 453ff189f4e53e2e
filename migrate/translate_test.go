package migrate

import (
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// vrrpBlock is a valid vrrp_instance, for the cases that need one.
const vrrpBlock = `vrrp_instance V {
    interface eth0
    virtual_router_id 7
    virtual_ipaddress {
        10.0.0.100
    }
`

// TestTranslate runs Import on small inputs and checks what the file
// holds (want), what it must not hold (not) and the notes (each a
// "file:line: ..." prefix of one note, and prefixes of none: noNotes). Every file written must pass
// config.Parse.
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files memFiles
		src   Sources
		want  []string
		not   []string
		notes []string
		// noNotes are prefixes no note may start with.
		noNotes []string
	}{
		{
			name:  "real-time priority",
			files: memFiles{"k": "global_defs {\n vrrp_rt_priority 50\n checker_rt_priority 40\n}\n" + vrrpBlock + "}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"vrrp_rt_priority: 50\n"},
			notes: []string{"k:3: checker_rt_priority 40: not translated"},
		},
		{
			// keepalived joins no lines: advert_int is a statement of
			// its own, and "100\" no priority (keepalived uses 100).
			name:  "a line ending in a backslash does not swallow the next",
			files: memFiles{"k": "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n priority 100 \\\n advert_int 3\n virtual_ipaddress {\n  10.0.0.100\n }\n}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"advert_interval: 3s\n"},
			not:   []string{"priority:"},
			notes: []string{"k:4: priority 100\\: not translated: "},
		},
		{
			name: "keepalived's generic notify becomes a hook per state, with its arguments written out",
			files: memFiles{"k": "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n priority 150\n virtual_ipaddress {\n  10.0.0.100\n }\n" +
				" notify \"/etc/keepalived/notify.sh --log\" root\n}\n"},
			src: Sources{Keepalived: "k"},
			want: []string{"master: [/etc/keepalived/notify.sh, --log, INSTANCE, VI_1, MASTER, \"150\"]",
				"backup: [/etc/keepalived/notify.sh, --log, INSTANCE, VI_1, BACKUP, \"150\"]",
				"fault: [/etc/keepalived/notify.sh, --log, INSTANCE, VI_1, FAULT, \"150\"]",
				"stop: [/etc/keepalived/notify.sh, --log, INSTANCE, VI_1, STOP, \"150\"]"},
			notes: []string{"k:8: notify /etc/keepalived/notify.sh --log root: note: becomes notify.master, notify.backup, notify.fault, notify.stop, each with the arguments keepalived adds (INSTANCE VI_1 STATE 150), the last one the configured priority, not the effective one"},
		},
		{
			name: "a state with its own notify_STATE keeps it; the generic notify takes the others",
			files: memFiles{"k": "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n state MASTER\n virtual_ipaddress {\n  10.0.0.100\n }\n" +
				" notify /usr/local/bin/vip-state\n notify_master \"/usr/local/bin/on-master now\"\n}\n"},
			src: Sources{Keepalived: "k"},
			want: []string{"master: [/usr/local/bin/on-master, now]", "backup: [/usr/local/bin/vip-state, INSTANCE, VI_1, BACKUP, \"255\"]",
				"stop: [/usr/local/bin/vip-state, INSTANCE, VI_1, STOP, \"255\"]"},
			not: []string{"MASTER, \"255\""},
			notes: []string{"k:8: notify /usr/local/bin/vip-state: note: becomes notify.backup, notify.fault, notify.stop, each with the arguments keepalived adds (INSTANCE VI_1 STATE 255), " +
				"the last one the configured priority, not the effective one keepalived passes (a track rule's change is not in it: read RMQLB_PRIORITY); also run with RMQLB_INSTANCE, RMQLB_STATE, RMQLB_PREV_STATE, RMQLB_VIPS, RMQLB_REASON and RMQLB_PRIORITY in its environment; " +
				"not run on master, which has its hook already, as rmqlb runs one hook per state: add what it does there"},
		},
		{
			name: "a generic notify where every state has its own is left out",
			files: memFiles{"k": "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n notify /usr/local/bin/vip-state\n" +
				" notify_master /bin/m\n notify_backup /bin/b\n notify_fault /bin/f\n notify_stop /bin/s\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"vip-state"},
			notes: []string{"k:7: notify /usr/local/bin/vip-state: not translated: every state has its hook already"},
		},
		{
			name: "a sync group of one instance gives it the group's hooks, for the states without one of its own",
			files: memFiles{"k": "vrrp_sync_group VG {\n group {\n  VI_1\n }\n notify_master /usr/local/bin/group-master\n notify_backup /usr/local/bin/group-backup\n notify /usr/local/bin/group-state\n}\n" +
				"vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n priority 150\n virtual_ipaddress {\n  10.0.0.100\n }\n notify_backup /usr/local/bin/own-backup\n}\n"},
			src: Sources{Keepalived: "k"},
			want: []string{"master: [/usr/local/bin/group-master]", "backup: [/usr/local/bin/own-backup]",
				"fault: [/usr/local/bin/group-state, GROUP, VG, FAULT, \"0\"]", "stop: [/usr/local/bin/group-state, GROUP, VG, STOP, \"0\"]"},
			not: []string{"group-backup"},
			notes: []string{"k:1: vrrp_sync_group VG: note: holds one instance, VI_1: its hooks are that instance's",
				"k:5: notify_master /usr/local/bin/group-master: note: the hook of vrrp_instance VI_1; run with RMQLB_INSTANCE",
				"k:6: notify_backup /usr/local/bin/group-backup: not translated: vrrp_instance VI_1 has its own hook for backup",
				"k:7: notify /usr/local/bin/group-state: note: becomes notify.fault, notify.stop, each with the arguments keepalived adds (GROUP VG STATE 0); also run with RMQLB_INSTANCE, " +
					"RMQLB_STATE, RMQLB_PREV_STATE, RMQLB_VIPS, RMQLB_REASON and RMQLB_PRIORITY in its environment; not run on master and backup, which have their hooks already",
				"k:16: notify_backup /usr/local/bin/own-backup: note: run with"},
		},
		{
			name: "a sync group of one instance gives it its track scripts and processes",
			files: memFiles{"k": "vrrp_script chk {\n script \"/usr/bin/killall -0 haproxy\"\n weight -30\n}\nvrrp_sync_group VG {\n group {\n  V\n }\n track_script {\n  chk\n }\n track_interface {\n  eth0\n }\n track_process {\n  px weight -20\n }\n}\n" +
				"vrrp_track_process px {\n process haproxy\n}\n" + vrrpBlock + "}\n",
				"h": "listen amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{Keepalived: "k", HAProxy: "h"},
			want:  []string{"{listener: amqp, weight: -30}", "{listener: amqp, weight: -20}"},
			notes: []string{"k:5: vrrp_sync_group VG: note: holds one instance, V", "k:10: chk: note: tracked as listener amqp", "k:16: px: note: tracked as listener amqp"},
		},
		{
			name:  "a sync group of several instances is left out, hooks and all",
			files: memFiles{"k": "vrrp_sync_group VG {\n group {\n  VI_1 VI_2\n }\n notify_master /usr/local/bin/group-master\n}\n" + vrrpBlock + "}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"group-master", "notify:"},
			notes: []string{"k:1: vrrp_sync_group VG: not translated: no equivalent: rmqlb's instances fail over one by one; give the instances of the group the same track rules " +
				"so that they move together, and what its notify scripts do to their notify hooks (rmqlb runs them per instance)"},
		},
		{
			name:  "the last generic notify counts, of an instance and of a nameless sync group",
			files: memFiles{"k": "vrrp_sync_group {\n group {\n  V\n }\n notify /bin/g1\n notify /bin/g2\n}\n" + strings.Replace(vrrpBlock, "vrrp_instance V {", "vrrp_instance V {\n notify /bin/i1\n notify_master /bin/m", 1) + " notify /bin/i2\n}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"master: [/bin/m]", "backup: [/bin/i2, INSTANCE, V, BACKUP, \"100\"]"},
			not:   []string{"/bin/i1", "/bin/g"},
			notes: []string{"k:5: notify /bin/g1: not translated: overridden by line 6", "k:6: notify /bin/g2: not translated: every state has its hook already",
				"k:9: notify /bin/i1: not translated: overridden by line 16"},
		},
		{
			name:  "a generic notify that needs a shell is left out",
			files: memFiles{"k": vrrpBlock + " notify \"/usr/local/bin/vip-state > /tmp/state\"\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"notify:"},
			notes: []string{"k:7: notify /usr/local/bin/vip-state > /tmp/state: not translated: rmqlb runs hooks without a shell (no $VAR, quoting, globbing or redirection); write notify.master, backup, fault and stop as a program and its arguments"},
		},
		{
			name:  "keepalived's down timer in global_defs becomes each instance's late_adverts_tolerated",
			files: memFiles{"k": "global_defs {\n vrrp_down_timer_adverts 5\n}\n" + vrrpBlock + "}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"late_adverts_tolerated: 2\n"},
			notes: []string{"k:2: vrrp_down_timer_adverts 5: note: becomes late_adverts_tolerated: 2 of each instance: a backup takes over after 5 advert intervals plus Skew_Time"},
		},
		{
			name:  "an instance's down timer overrides global_defs'",
			files: memFiles{"k": "global_defs {\n vrrp_down_timer_adverts 5\n}\n" + vrrpBlock + " down_timer_adverts 13\n}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"late_adverts_tolerated: 10\n"},
			notes: []string{"k:2: vrrp_down_timer_adverts 5: note:", "k:10: down_timer_adverts 13: note: becomes late_adverts_tolerated: 10: a backup takes over after 13 advert intervals"},
		},
		{
			name:  "an instance's down timer of the RFC's three writes nothing",
			files: memFiles{"k": "global_defs {\n vrrp_down_timer_adverts 5\n}\n" + vrrpBlock + " down_timer_adverts 3\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"late_adverts_tolerated"},
			notes: []string{"k:2: vrrp_down_timer_adverts 5: note:"},
		},
		{
			name:  "down timers rmqlb cannot take",
			files: memFiles{"k": "global_defs {\n vrrp_down_timer_adverts 2\n}\n" + vrrpBlock + " down_timer_adverts 14\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"late_adverts_tolerated"},
			notes: []string{"k:2: vrrp_down_timer_adverts 2: not translated: no equivalent: rmqlb's backups wait the RFC's 3 advert intervals at least (plus Skew_Time), where keepalived's take over after 2",
				"k:10: down_timer_adverts 14: not translated: must be at most 13 in rmqlb (late_adverts_tolerated: 10)"},
		},
		{
			name:  "servers' states loaded at start become the state file",
			files: memFiles{"h": "global\n server-state-base /var/lib/haproxy\ndefaults\n mode tcp\n load-server-state-from-file local\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"state_file: /var/lib/rmqlb/state.json\n"},
			notes: []string{"h:2: server-state-base /var/lib/haproxy: note: state_file replaces it", "h:5: load-server-state-from-file local: note: becomes state_file: /var/lib/rmqlb/state.json: rmqlb writes the operator's states there itself"},
		},
		{
			name:  "a reload's grace becomes each listener's graceful_timeout; its spread points to close_spread",
			files: memFiles{"h": "global\n hard-stop-after 60s\n close-spread-time 50s\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\nlisten amqps\n bind 10.0.0.100:5671\n server a 10.0.0.1:5671 check\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"  - name: amqp\n", "  - name: amqps\n", "graceful_timeout: 1m\n"},
			not:   []string{"close_spread"},
			notes: []string{"h:2: hard-stop-after 60s: note: becomes graceful_timeout: 1m of each listener translated from this file (amqp, amqps): an upgrade of rmqlb",
				"h:3: close-spread-time 50s: not translated: a setting of each listener in rmqlb: close_spread, by default four fifths of graceful_timeout"},
		},
		{
			name:  "the last hard-stop-after counts, in HAProxy's unit",
			files: memFiles{"h": "global\n hard-stop-after 5s\nglobal\n hard-stop-after 90000\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"graceful_timeout: 1m30s\n"},
			notes: []string{"h:2: hard-stop-after 5s: not translated: overridden by line 4", "h:4: hard-stop-after 90000: note: becomes graceful_timeout: 1m30s"},
		},
		{
			name:  "a hard-stop-after rmqlb cannot take is left out",
			files: memFiles{"h": "global\n hard-stop-after 0\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"graceful_timeout"},
			notes: []string{"h:2: hard-stop-after 0: not translated: must be above 0"},
		},
		{
			name:  "a hard-stop-after without a value is left out",
			files: memFiles{"h": "global\n hard-stop-after\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"graceful_timeout"},
			notes: []string{"h:2: hard-stop-after: not translated: takes one value"},
		},
		{
			name:  "a hard-stop-after without a translated listener",
			files: memFiles{"h": "global\n hard-stop-after 30s\nlisten web\n mode http\n stats enable\n bind 10.0.0.100:80\n server a 10.0.0.1:80\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"graceful_timeout"},
			notes: []string{"h:2: hard-stop-after 30s: not translated: a setting of each listener in rmqlb: graceful_timeout"},
		},
		{
			name:  "servers' states not loaded: no state file",
			files: memFiles{"h": "global\n server-state-file /var/lib/haproxy/state\nlisten amqp\n bind 10.0.0.100:5672\n load-server-state-from-file none\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"state_file", "load-server-state-from-file"},
			notes: []string{"h:2: server-state-file /var/lib/haproxy/state: not translated: no translated section loads it (load-server-state-from-file)"},
		},
		{
			name:  "servers' states loaded by a section left out: no state file",
			files: memFiles{"h": "listen web\n mode http\n stats enable\n bind 10.0.0.100:80\n load-server-state-from-file global\n server a 10.0.0.1:80\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"state_file"},
			notes: []string{"h:1: listen web (to line 6): not translated: http mode: rmqlb proxies TCP (line 3: stats enable)"},
		},
		{
			name:  "servers' states loaded from where HAProxy does not know",
			files: memFiles{"h": "listen amqp\n bind 10.0.0.100:5672\n load-server-state-from-file elsewhere\n server a 10.0.0.1:5672 check\n"},
			src:   Sources{HAProxy: "h"},
			not:   []string{"state_file"},
			notes: []string{"h:3: load-server-state-from-file elsewhere: not translated: unknown value elsewhere: HAProxy refuses it"},
		},
		{
			name:  "real-time priority out of range",
			files: memFiles{"k": "global_defs {\n vrrp_rt_priority 100\n}\n" + vrrpBlock + "}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"vrrp_rt_priority"},
			notes: []string{"k:2: vrrp_rt_priority 100: "},
		},
		{
			name:  "fwmark with two VIPs has no bind",
			files: memFiles{"k": "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n  10.0.0.101\n }\n}\nvirtual_server fwmark 1 {\n real_server 10.0.0.1 5672 {\n }\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"listeners:"},
			notes: []string{"k:9: virtual_server fwmark 1: not translated: the packets it takes are marked by firewall rules", "k:10: real_server 10.0.0.1 5672: note: keepalived does not check it"},
		},
		{
			name: "wildcard bind with two VIPs is kept",
			files: memFiles{
				"k": "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n  10.0.0.101\n }\n}\n",
				"h": "listen amqp\n bind :5672\n server a 10.0.0.1:5672 check\n",
			},
			src:   Sources{Keepalived: "k", HAProxy: "h"},
			want:  []string{"bind: 0.0.0.0:5672"},
			notes: []string{"h:1: listen amqp: note: binds 0.0.0.0:5672, every address: with several VIPs"},
		},
		{
			name: "scripts on the management port and without weight",
			files: memFiles{
				"k": "vrrp_script mgmt {\n script \"curl -sf http://10.0.0.2:15672/api/health/checks/alarms\"\n}\n" + vrrpBlock + " track_script {\n  mgmt\n }\n}\n",
				"h": "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n server r2 10.0.0.2:5672 check\n",
			},
			src:   Sources{Keepalived: "k", HAProxy: "h"},
			want:  []string{"- {check: amqp/r2, weight: -254}"},
			notes: []string{"k:2: script curl", "k:11: mgmt: note: tracked as backend amqp/r2's check (the same broker); without a weight keepalived goes to FAULT"},
		},
		{
			name: "sorry_server becomes a checked backup",
			files: memFiles{
				"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5672 {\n delay_loop 3\n sorry_server 10.0.0.9 5672\n sorry_server_inhibit\n real_server 10.0.0.1 5672 {\n  inhibit_on_failure\n }\n}\n",
			},
			src:   Sources{Keepalived: "k"},
			want:  []string{"on_marked_down: keep-sessions", "check: {interval: 3s}", "- {name: 10.0.0.1, address: '10.0.0.1:5672'}", "- {name: sorry_server, address: '10.0.0.9:5672', backup: true}"},
			notes: []string{"k:10: sorry_server 10.0.0.9 5672: note: becomes a backup backend", "k:11: sorry_server_inhibit: not translated: no equivalent: the sorry_server's backup backend"},
		},
		{
			name:  "sorry_server of a virtual_server left out",
			files: memFiles{"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5672 {\n sorry_server 10.0.0.9 5672\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"listeners:"},
			notes: []string{"k:9: sorry_server 10.0.0.9 5672: not translated: its virtual_server is left out"},
		},
		{
			name: "backend where a listener listens is left out",
			files: memFiles{
				"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5672 {\n real_server 10.0.0.100 5672\n real_server 10.0.0.1 5672\n}\nvirtual_server 10.0.0.100 5673 {\n real_server 10.0.0.100 5672\n}\n",
			},
			src:  Sources{Keepalived: "k"},
			want: []string{"- {name: 10.0.0.1, address: '10.0.0.1:5672'}"},
			not:  []string{"address: '10.0.0.100:5672'", "bind: 10.0.0.100:5673"},
			notes: []string{
				"k:9: 10.0.0.100:5672 (backend of virtual_server 10.0.0.100 5672): not translated: its address is where virtual_server 10.0.0.100 5672 listens (10.0.0.100:5672): the proxy would connect to itself",
				"k:13: 10.0.0.100:5672 (backend of virtual_server 10.0.0.100 5673): not translated: its address is where virtual_server 10.0.0.100 5672 listens",
				"k:12: virtual_server 10.0.0.100 5673: not translated: has no backend left",
			},
		},
		{
			// keepalived 2's vrrp_track_process: the broker's and the
			// proxy's processes are tracked as their checks, as the
			// scripts that look for them are.
			name: "track_process of the broker and of the proxy",
			files: memFiles{
				"k": "global_defs {\n router_id r1\n}\nvrrp_track_process rabbit {\n process beam.smp\n quorum 1\n delay 2\n}\n" +
					"vrrp_track_process proxy {\n process /usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg\n full_command\n}\n" +
					vrrpBlock + " track_process {\n  rabbit\n  proxy weight -10\n }\n}\n",
				"h": "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n server r2 10.0.0.2:5672 check\n",
			},
			src:  Sources{Keepalived: "k", HAProxy: "h"},
			want: []string{"- {check: amqp/r1, weight: -254}", "- {listener: amqp, weight: -10}"},
			notes: []string{
				"k:5: process beam.smp: note: rmqlb tracks backend amqp/r1's check (this host's broker) instead of the process",
				"k:6: quorum 1: not translated: rmqlb tracks a check of what the process serves, with its own interval, timeout, rise and fall, not the process",
				"k:7: delay 2: not translated: rmqlb tracks a check",
				"k:10: process /usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg: note: rmqlb tracks listener amqp (no backend serving",
				"k:11: full_command: not translated: rmqlb tracks a check",
				"k:20: rabbit: note: tracked as backend amqp/r1's check (this host's broker); without a weight keepalived goes to FAULT when the process is not running: rmqlb lowers the priority by 254 instead",
				"k:21: proxy: note: tracked as listener amqp",
			},
		},
		{
			name: "track_process without a weight, of an unknown process, of none",
			files: memFiles{
				"k": "vrrp_track_process rabbit {\n process rabbitmq-server\n}\nvrrp_track_process app {\n process myapp\n quorum 2\n}\n" +
					"vrrp_track_process unused {\n process beam.smp\n}\n" +
					vrrpBlock + " track_process {\n  rabbit\n  app\n  chk\n }\n track_script {\n  rabbit\n }\n}\n",
				"h": "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n",
			},
			src: Sources{Keepalived: "k", HAProxy: "h"},
			not: []string{"track:"},
			notes: []string{
				"k:2: process rabbitmq-server: not translated: checks this host's broker, and rmqlb import cannot tell which backend that is",
				"k:5: process myapp: not translated: tracks a process rmqlb import does not know: add a track rule for what it serves",
				"k:6: quorum 2: not translated: goes with vrrp_track_process app, which is not translated",
				"k:8: vrrp_track_process unused: not translated: no vrrp_instance tracks it",
				"k:18: rabbit: not translated: its vrrp_track_process is not translated",
				"k:19: app: not translated: its vrrp_track_process is not translated",
				"k:20: chk: not translated: no vrrp_track_process has this name",
				"k:23: rabbit: not translated: no vrrp_script has this name",
			},
		},
		{
			name:  "a track file points to the planned handover",
			files: memFiles{"k": "vrrp_track_file maint {\n file /etc/keepalived/maint\n weight -100\n}\n" + vrrpBlock + " track_file {\n  maint\n }\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"track:"},
			notes: []string{"k:1: vrrp_track_file maint: not translated: no equivalent: rmqlb tracks its backends and listeners (track rules); to move the VIPs away for maintenance, run `rmqlb vrrp release NAME`",
				"k:11: track_file: not translated: no equivalent: rmqlb tracks its backends and listeners (track rules); to move the VIPs away"},
		},
		{
			name: "script that cannot be read",
			files: memFiles{
				"k": "vrrp_script custom {\n script /etc/keepalived/check.sh\n weight -30\n interval 2\n}\n" + vrrpBlock + " track_script {\n  custom\n  missing\n }\n}\n",
			},
			src:   Sources{Keepalived: "k"},
			not:   []string{"track:"},
			notes: []string{"k:2: script /etc/keepalived/check.sh: not translated: runs a command rmqlb import cannot read", "k:4: interval 2: not translated: goes with vrrp_script custom, which is not translated", "k:13: custom: not translated: its vrrp_script is not translated", "k:14: missing: not translated: no vrrp_script has this name"},
		},
		{
			name:  "VRRPv2 interval in fractions and AH",
			files: memFiles{"k": "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n advert_int 0.5\n authentication {\n  auth_type AH\n  auth_pass x\n }\n virtual_ipaddress {\n  10.0.0.100/24 brd 10.0.0.255\n }\n}\n"},
			src:   Sources{Keepalived: "k"},
			not:   []string{"advert_interval", "auth_pass"},
			notes: []string{"k:4: advert_int: not translated: must be whole seconds", "k:6: auth_type AH: not translated: no equivalent: rmqlb authenticates with auth_type PASS only", "k:7: auth_pass: not translated: goes with auth_type AH", "k:10: 10.0.0.100/24 brd 10.0.0.255: not translated: no equivalent: rmqlb adds VIPs with the kernel's defaults"},
		},
		{
			name:  "instances left out",
			files: memFiles{"k": "vrrp_instance A {\n interface eth0\n virtual_router_id 7\n}\n" + vrrpBlock + "}\nvrrp_instance C {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.200\n }\n}\n@host1 priority 200\n$VIP=10.0.0.1\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"name: V"},
			not:   []string{"name: A", "name: C"},
			notes: []string{"k:1: vrrp_instance A: not translated: has no virtual_ipaddress that rmqlb can use", "k:12: vrrp_instance C: not translated: VRID 7 on eth0 is also vrrp_instance V's (k:5): left out", "k:19: @host1 priority 200: not translated: a line for some hosts only", "k:20: $VIP=10.0.0.1: not translated: not expanded"},
		},
		{
			name:  "HAProxy: rules, http mode, names, servers left out",
			files: memFiles{"h": "frontend in\n bind 10.0.0.100:5672\n acl vip dst 10.0.0.100\n use_backend b if vip\n default_backend b\nbackend b\n server dns broker.example.com:5672 check\n server ok 10.0.0.1:5672 check inter 1s fastinter 500ms downinter 5s\n server tls 10.0.0.2:5671 ssl verify none\nlisten web\n bind :80\n mode http\n http-request redirect scheme https\n server w 10.0.0.9:80\nlisten empty\n bind 10.0.0.100:5673\n server x host:1\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"name: in", "check: {interval: 1s, fastinterval: 500ms, downinterval: 5s}"},
			not:   []string{"name: web", "name: empty"},
			notes: []string{"h:3: acl vip dst 10.0.0.100: not translated: no equivalent: rmqlb has no content rules", "h:4: use_backend b if vip: not translated: no equivalent: rmqlb has no content rules", "h:7: server dns broker.example.com:5672 check: not translated: broker.example.com: looking it up (as HAProxy does at its start) found no address: lookup broker.example.com: no such host; rmqlb uses IP addresses", "h:9: server tls 10.0.0.2:5671 ssl verify none: not translated: HAProxy speaks TLS to this server", "h:10: listen web (to line 14): not translated: http mode: rmqlb proxies TCP (line 13: http-request redirect scheme https)", "h:15: listen empty: not translated: has no server that rmqlb can use"},
		},
		{
			name:  "HAProxy: stick table size in entries, k m g are powers of 2",
			files: memFiles{"h": "listen a\n bind 10.0.0.100:5672\n stick-table type ip size 1m expire 10m\n stick on src\n server a 10.0.0.1:5672\nlisten b\n bind 10.0.0.100:5673\n stick-table type ip size 2G\n stick on src\n server b 10.0.0.1:5673\nlisten c\n bind 10.0.0.100:5674\n stick-table type ip size 5000 expire 1h\n stick on src\n server c 10.0.0.1:5674\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"persistence_timeout: 10m\n    persistence_max_clients: 1048576\n", "persistence_timeout: 1h\n    persistence_max_clients: 5000\n"},
			not:   []string{"persistence_max_clients: 2147483648"},
			notes: []string{"h:3: stick-table type ip size 1m expire 10m: note: rmqlb keeps each client address on its backend with persistence_timeout 10m (the table's expire) and pins at most persistence_max_clients 1048576 addresses (the table's size); a new client beyond them is balanced without being pinned, where HAProxy would purge its oldest entry (unless nopurge)",
				"h:8: stick-table type ip size 2G: not translated: size must be 1 to 2147483647 entries, not 2G",
				"h:13: stick-table type ip size 5000 expire 1h: note: rmqlb keeps each client address on its backend with persistence_timeout 1h (the table's expire) and pins at most persistence_max_clients 5000 addresses"},
		},
		{
			name: "HAProxy: a cap on each source's connections becomes maxconn_per_client",
			files: memFiles{"h": "listen a\n bind 10.0.0.100:5672\n stick-table type ip size 100k expire 30s store conn_cur\n tcp-request connection track-sc0 src\n tcp-request connection reject if { sc0_conn_cur gt 100 }\n server a 10.0.0.1:5672\n" +
				"frontend b\n bind 10.0.0.100:5673\n stick-table type ipv6 size 1k store conn_cur\n tcp-request connection track-sc1 src\n acl too_many sc_conn_cur(1) ge 50\n tcp-request connection reject if too_many\n default_backend bb\nbackend bb\n server b 10.0.0.1:5673\n" +
				"listen c\n bind 10.0.0.100:5674\n tcp-request connection track-sc0 src\n tcp-request connection reject if { src_conn_cur gt 10 }\n stick-table type ip size 1m expire 10m store conn_cur\n stick on src\n server c 10.0.0.1:5674\n"},
			src: Sources{HAProxy: "h"},
			want: []string{"bind: 10.0.0.100:5672\n    maxconn_per_client: 100\n", "bind: 10.0.0.100:5673\n    maxconn_per_client: 49\n",
				"bind: 10.0.0.100:5674\n    persistence_timeout: 10m\n    persistence_max_clients: 1048576\n    maxconn_per_client: 10\n"},
			notes: []string{"h:5: tcp-request connection reject if { sc0_conn_cur gt 100 }: note: rmqlb refuses a client address's connections past maxconn_per_client 100 at once, as this rule does",
				"h:3: stick-table type ip size 100k expire 30s store conn_cur: note: rmqlb counts each client address's connections for maxconn_per_client without a table",
				"h:12: tcp-request connection reject if too_many: note: rmqlb refuses a client address's connections past maxconn_per_client 49 at once",
				"h:9: stick-table type ipv6 size 1k store conn_cur: note: rmqlb counts each client address's connections",
				"h:19: tcp-request connection reject if { src_conn_cur gt 10 }: note: rmqlb refuses a client address's connections past maxconn_per_client 10",
				"h:20: stick-table type ip size 1m expire 10m store conn_cur: note: rmqlb keeps each client address on its backend with persistence_timeout 10m"},
		},
		{
			name: "HAProxy: source rules that are not a cap on connections are left out",
			files: memFiles{"h": "listen a\n bind 10.0.0.100:5672\n stick-table type ip size 100k expire 30s store conn_rate(10s)\n tcp-request connection track-sc0 src\n tcp-request connection reject if { sc0_conn_rate gt 100 }\n server a 10.0.0.1:5672\n" +
				"listen b\n bind 10.0.0.100:5673\n tcp-request connection reject if { src_conn_cur gt 10 }\n tcp-request connection track-sc0 src\n server b 10.0.0.1:5673\n" +
				"listen c\n bind 10.0.0.100:5674\n tcp-request connection track-sc0 src\n tcp-request connection reject if { sc1_conn_cur gt 10 }\n tcp-request connection reject if { sc0_conn_cur ge 1 }\n server c 10.0.0.1:5674\n"},
			src: Sources{HAProxy: "h"},
			not: []string{"maxconn_per_client"},
			notes: []string{"h:5: tcp-request connection reject if { sc0_conn_rate gt 100 }: not translated: no equivalent: rmqlb has no content rules",
				"h:3: stick-table type ip size 100k expire 30s store conn_rate(...: not translated",
				"h:9: tcp-request connection reject if { src_conn_cur gt 10 }: not translated: no equivalent",
				"h:10: tcp-request connection track-sc0 src: not translated: no equivalent",
				"h:15: tcp-request connection reject if { sc1_conn_cur gt 10 }: not translated",
				"h:16: tcp-request connection reject if { sc0_conn_cur ge 1 }: not translated"},
		},
		{
			name:  "HAProxy: stick table without size keeps rmqlb's bound",
			files: memFiles{"h": "listen a\n bind 10.0.0.100:5672\n stick-table type ip expire 10m\n stick on src\n server a 10.0.0.1:5672\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"persistence_timeout: 10m\n"},
			not:   []string{"persistence_max_clients"},
			notes: []string{"h:3: stick-table type ip expire 10m: note: rmqlb keeps each client address on its backend with persistence_timeout 10m (the table's expire)"},
		},
		{
			name:  "HAProxy: no frontend for a backend, PROXY protocol per server",
			files: memFiles{"h": "defaults\n timeout client 1m\n timeout server 30s\n timeout queue 5s\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 send-proxy\n server b 10.0.0.2:5672\nbackend orphan\n server c 10.0.0.3:5672\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"idle_timeout: 30s", "proxy_protocol: v1", "proxy_protocol: none"},
			notes: []string{"h:2: timeout client 1m: note: rmqlb has one idle_timeout for both sides", "h:4: timeout queue 5s: not translated: no equivalent: rmqlb queues no client", "h:7: server a 10.0.0.1:5672 send-proxy: note: HAProxy does not check this server", "h:9: backend orphan (to line 10): not translated: no frontend in tcp mode uses it"},
		},
		{
			name:  "keepalived: a TCP_CHECK of the AMQPS port becomes the AMQP handshake over TLS, noted",
			files: memFiles{"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5671 {\n real_server 10.0.0.1 5671 {\n  TCP_CHECK {\n  }\n }\n}\n"},
			src:   Sources{Keepalived: "k"},
			want:  []string{"bind: 10.0.0.100:5671", "check: {tls: {verify: none}}"},
			notes: []string{"k:10: TCP_CHECK: note: becomes an AMQP handshake over TLS (check tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate): port 5671 is RabbitMQ's AMQP over TLS port", "k:8: virtual_server 10.0.0.100 5671: note: rmqlb binds 10.0.0.100:5671, and its brokers listen on port 5671 too: on a host that also runs a broker, the broker must listen on the host's own address only, not on every address (RabbitMQ's listeners.ssl.1 = ADDRESS:5671)"},
		},
		{
			name:  "ipvsadm fwmark with one VIP and a keepalived twin",
			files: memFiles{"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5672 {\n lb_algo rr\n real_server 10.0.0.1 5672 {\n  TCP_CHECK {\n  }\n }\n}\n", "i": "-A -f 3 -s lc\n-a -f 3 -r 10.0.0.1:5673 -g -w 1\n-A -t 10.0.0.100:5672 -s wrr\n-a -t 10.0.0.100:5672 -r 10.0.0.2:5672 -g -w 1\n"},
			src:   Sources{Keepalived: "k", IPVSAdm: "i"},
			want:  []string{"bind: 10.0.0.100:5672\n    policy: roundrobin", "bind: 10.0.0.100:5673\n    policy: leastconn"},
			notes: []string{"k:8: virtual_server 10.0.0.100 5672: note: rmqlb binds 10.0.0.100:5672, and its brokers listen on port 5672", "k:11: TCP_CHECK: note: becomes an AMQP handshake check", "i:1: -A -f 3 -s lc: note: firewall rules outside this file mark the packets it takes: rmqlb binds 10.0.0.100:5673", "i:3: -A -t 10.0.0.100:5672 -s wrr: not translated: describes 10.0.0.100:5672, as virtual_server 10.0.0.100 5672 (k:8) does, which is kept", "i:4: real server 10.0.0.2:5672: not translated: left out with its listener (line 3)"},
		},
		{
			name: "ports that do not speak AMQP in clear get the input's HTTP check, else a TCP connect check, MQTT's, STOMP's and streams' a check of their protocol, 5671, 8883, 61614 and 5551 theirs over TLS",
			files: memFiles{
				"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 15672 {\n real_server 10.0.0.1 15672 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n",
				"h": "listen mgmt\n bind 10.0.0.100:15692\n option httpchk GET /metrics\n server m1 10.0.0.1:15692 check inter 5s\n" +
					"listen amqps\n bind 10.0.0.100:5671\n server s1 10.0.0.1:5671\n" +
					"listen amqp\n bind 10.0.0.100:5672\n server a1 10.0.0.1:5672 check\n server a2 10.0.0.2:5672 check port 15672\n" +
					"listen mqtt\n bind 10.0.0.100:1883\n server q1 10.0.0.1:1883 check\n" +
					"listen mqtts\n bind 10.0.0.100:8883\n server q2 10.0.0.1:8883 check\n" +
					"listen stomp\n bind 10.0.0.100:61613\n server t1 10.0.0.1:61613 check\n" +
					"listen stomps\n bind 10.0.0.100:61614\n server t2 10.0.0.1:61614 check\n" +
					"listen stream\n bind 10.0.0.100:5552\n server r1 10.0.0.1:5552 check\n" +
					"listen streams\n bind 10.0.0.100:5551\n server r2 10.0.0.1:5551 check\n" +
					"listen epmd\n bind 10.0.0.100:4369\n server e1 10.0.0.1:4369 check\n",
			},
			src: Sources{Keepalived: "k", HAProxy: "h"},
			want: []string{
				"bind: 10.0.0.100:15672\n    policy: leastconn\n    check: {type: http, expect_status: 200-299}",
				"bind: 10.0.0.100:15692\n    check: {type: http, interval: 5s, path: /metrics}",
				"bind: 10.0.0.100:1883\n    check: {type: mqtt}",
				"bind: 10.0.0.100:8883\n    check: {type: mqtt, tls: {verify: none}}",
				"bind: 10.0.0.100:61613\n    check: {type: stomp}",
				"bind: 10.0.0.100:61614\n    check: {type: stomp, tls: {verify: none}}",
				"bind: 10.0.0.100:5552\n    check: {type: stream}",
				"bind: 10.0.0.100:5551\n    check: {type: stream, tls: {verify: none}}",
				"bind: 10.0.0.100:4369\n    check: {type: tcp}",
				"bind: 10.0.0.100:5671\n    check: {tls: {verify: none}}",
				"{name: a1, address: '10.0.0.1:5672'}",
				"{name: a2, address: '10.0.0.2:5672'}",
			},
			not: []string{"'10.0.0.2:15672'"},
			notes: []string{
				"h:7: server s1 10.0.0.1:5671: note: HAProxy does not check this server: rmqlb checks it with an AMQP handshake over TLS (check tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate): port 5671 is RabbitMQ's AMQP over TLS port",
				"h:10: server a1 10.0.0.1:5672 check: note: becomes an AMQP handshake check",
				"h:11: server a2 10.0.0.2:5672 check port 15672: note: the check went to port 15672, RabbitMQ's management plugin's HTTP port: rmqlb checks the broker's own port, 5672, with an AMQP handshake, which fails for a frozen broker",
				"h:14: server q1 10.0.0.1:1883 check: note: becomes an MQTT CONNECT (check type: mqtt), which fails for a frozen node: port 1883 is RabbitMQ's MQTT port",
				"h:17: server q2 10.0.0.1:8883 check: note: becomes an MQTT CONNECT over TLS (check type: mqtt, tls: {verify: none};",
				"h:20: server t1 10.0.0.1:61613 check: note: becomes a STOMP CONNECT (check type: stomp), which fails for a frozen node: port 61613 is RabbitMQ's STOMP port",
				"h:23: server t2 10.0.0.1:61614 check: note: becomes a STOMP CONNECT over TLS (check type: stomp, tls: {verify: none};",
				"h:26: server r1 10.0.0.1:5552 check: note: becomes a stream client's opening (check type: stream), which fails for a frozen node: port 5552 is RabbitMQ's stream port",
				"h:29: server r2 10.0.0.1:5551 check: note: becomes a stream client's opening over TLS (check type: stream, tls: {verify: none};",
			},
			noNotes: []string{"k:10: HTTP_GET", "h:3: option httpchk", "h:32:"},
		},
		{
			name: "HAProxy's HTTP check of the management port, with basic authentication and a status",
			files: memFiles{"h": "defaults\n mode tcp\n option httpchk\n" +
				"listen mgmt\n bind 10.0.0.100:15672\n http-check send meth GET uri /api/health/checks/alarms hdr Authorization \"Basic bW9uaXRvcjpzM2NyZXQ=\" hdr X-Trace 1\n http-check expect status 200\n server m1 10.0.0.1:15672 check\n" +
				"listen mqtt\n bind 10.0.0.100:1883\n http-check expect rstatus ^2\n http-check disable-on-404\n server q1 10.0.0.1:1883 check port 15672\n" +
				"listen mgmts\n bind 10.0.0.100:15671\n option httpchk HEAD /api/health/checks/local-alarms HTTP/1.0\\r\\nHost:\\ rmq\\r\\nAuthorization:\\ Basic\\ bW9uaXRvcjpzM2NyZXQ=\n server s1 10.0.0.1:15671 check check-ssl verify none\n" +
				"listen web\n bind 10.0.0.100:15673\n option httpchk POST /x\n server w1 10.0.0.1:15672 check\n"},
			src: Sources{HAProxy: "h"},
			want: []string{
				"bind: 10.0.0.100:15672\n    check: {type: http, path: /api/health/checks/alarms, expect_status: \"200\", user: monitor, password: s3cret}",
				"bind: 10.0.0.100:1883\n    check: {type: http, address: '10.0.0.1:15672', method: OPTIONS}",
				"bind: 10.0.0.100:15671\n    check: {type: http, method: HEAD, path: /api/health/checks/local-alarms, user: monitor, password: s3cret, tls: {verify: none}}",
				"bind: 10.0.0.100:15673\n    check: {type: http, path: /x}",
			},
			notes: []string{
				"h:3: option httpchk: note: an http check with method: OPTIONS, as HAProxy sends it; RabbitMQ's management API answers OPTIONS 200 without credentials",
				"h:6: http-check send meth GET uri /api/health/checks/alarms hd...: not translated: header X-Trace: rmqlb's http check sends no header",
				"h:11: http-check expect rstatus ^2: not translated: no equivalent: rmqlb's http check passes on the answer's status alone",
				"h:12: http-check disable-on-404: not translated: no equivalent: a 404 fails rmqlb's http check",
				"h:16: option httpchk HEAD /api/health/checks/local-alarms HTTP/...: note: becomes the http check's user and password; a 401 or 403 to that user makes a backend DEGRADED where HAProxy took its server down",
				"h:20: option httpchk POST /x: not translated: rmqlb's http check sends GET, HEAD or OPTIONS, not POST: it sends GET",
			},
			noNotes: []string{"h:7:", "h:17:"},
		},
		{
			name:  "an unchecked HAProxy server of the management port gets its section's HTTP check",
			files: memFiles{"h": "listen admin\n bind 10.0.0.100:15672\n option httpchk GET /\n server a 10.0.0.1:15672\n server b 10.0.0.2:15672 check\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"bind: 10.0.0.100:15672\n    check: {type: http}\n"},
			notes: []string{"h:4: server a 10.0.0.1:15672: note: HAProxy does not check this server: rmqlb checks it with the HTTP check of its section (check type: http)"},
		},
		{
			// The server speaks HTTP on a port rmqlb does not know; a
			// broker's AMQP port that rmqlb does not know, checked on the
			// management port, is the broker's health.
			name: "an HTTP check of a server's own port, any port, is an http check",
			files: memFiles{
				"h": "listen web\n bind 10.0.0.100:8080\n option httpchk GET /health\n server w1 10.0.0.1:8080 check\n" +
					"listen amqp2\n bind 10.0.0.100:5673\n option httpchk GET /api/health/checks/alarms\n server a1 10.0.0.1:5673 check port 15672\n",
				"k": vrrpBlock + "}\nvirtual_server 10.0.0.101 8080 {\n real_server 10.0.0.2 8080 {\n  HTTP_GET {\n   url {\n    path /health\n   }\n  }\n }\n}\n" +
					"virtual_server 10.0.0.101 5673 {\n real_server 10.0.0.2 5673 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   connect_port 15672\n  }\n }\n}\n",
			},
			src: Sources{HAProxy: "h", Keepalived: "k"},
			want: []string{
				"bind: 10.0.0.100:8080\n    check: {type: http, path: /health}",
				"bind: 10.0.0.101:8080\n    policy: leastconn\n    check: {type: http, path: /health, expect_status: 200-299}",
				"{name: a1, address: '10.0.0.1:5673'}",
				"bind: 10.0.0.101:5673\n",
			},
			not:   []string{"'10.0.0.1:15672'", "'10.0.0.2:15672'"},
			notes: []string{"h:8: server a1 10.0.0.1:5673 check port 15672: note: the check went to port 15672"},
		},
		{
			name: "keepalived's HTTP_GET and SSL_GET of the management port",
			files: memFiles{"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 15672 {\n delay_loop 2\n" +
				" real_server 10.0.0.1 15672 {\n  HTTP_GET {\n   url {\n    path /api/health/checks/alarms\n    status_code 200 401-403\n    digest 9b3a\n   }\n   url {\n    path /\n   }\n   connect_timeout 3\n   retry 2\n  }\n  TCP_CHECK {\n  }\n }\n" +
				" real_server 10.0.0.2 15672 {\n  SSL_GET {\n   url {\n    path /\n   }\n   connect_port 15671\n  }\n }\n}\n" +
				"virtual_server 10.0.0.100 5672 {\n real_server 10.0.0.1 5672 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   connect_port 15672\n  }\n }\n}\n"},
			src: Sources{Keepalived: "k"},
			want: []string{
				"{name: 10.0.0.1, address: '10.0.0.1:15672', check: {type: http, interval: 2s, timeout: 3s, fall: 3, path: /api/health/checks/alarms, expect_status: '200,401-403'}}",
				"{name: 10.0.0.2, address: '10.0.0.2:15672', check: {type: http, address: '10.0.0.2:15671', interval: 2s, expect_status: 200-299, tls: {verify: none}}}",
				"bind: 10.0.0.100:5672\n",
			},
			not: []string{"type: tcp", "'10.0.0.1:15672'}}\n      - {name: 10.0.0.1, address: '10.0.0.1:5672', check"},
			notes: []string{
				"k:15: digest 9b3a: not translated: no equivalent: rmqlb's http check passes on the answer's status alone",
				"k:17: url: not translated: no equivalent: rmqlb's http check asks for one path, that of the first url",
				"k:23: TCP_CHECK: not translated: no equivalent: rmqlb runs one check per backend",
				"k:27: SSL_GET: note: an http check over TLS that verifies no certificate",
				"k:37: HTTP_GET: not translated:",
			},
		},
		{
			name: "keepalived's MISC_CHECK that runs curl of the real server becomes an http check of the same URL",
			files: memFiles{"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 15672 {\n" +
				" real_server 10.0.0.1 15672 {\n  MISC_CHECK {\n   misc_path \"/usr/bin/curl -fsS -m 3 -u monitor:s3cret http://10.0.0.1:15672/api/health/checks/alarms\"\n   misc_timeout 5\n   misc_dynamic\n  }\n }\n" +
				" real_server 10.0.0.2 15672 {\n  MISC_CHECK {\n   misc_path \"curl -k -H 'X-A: b' https://10.0.0.2:15671/\"\n  }\n }\n" +
				" real_server 10.0.0.3 15672 {\n  MISC_CHECK {\n   misc_path \"curl -f http://127.0.0.1:15672/\"\n  }\n }\n" +
				" real_server 10.0.0.4 15672 {\n  MISC_CHECK {\n   misc_path /etc/keepalived/check.sh\n  }\n }\n}\n" +
				"virtual_server 10.0.0.100 5672 {\n real_server 10.0.0.1 5672 {\n  MISC_CHECK {\n   misc_path \"curl -f http://10.0.0.1:15672/api/aliveness-test/%2F\"\n  }\n }\n}\n"},
			src: Sources{Keepalived: "k"},
			want: []string{
				"{name: 10.0.0.1, address: '10.0.0.1:15672', check: {type: http, timeout: 3s, path: /api/health/checks/alarms, user: monitor, password: s3cret}}",
				"{name: 10.0.0.2, address: '10.0.0.2:15672', check: {type: http, address: '10.0.0.2:15671', expect_status: 100-599, tls: {verify: none}}}",
				"{name: 10.0.0.3, address: '10.0.0.3:15672', check: {type: tcp}}",
				"{name: 10.0.0.4, address: '10.0.0.4:15672', check: {type: tcp}}",
				"bind: 10.0.0.100:5672\n    policy: leastconn\n    backends:\n      - {name: 10.0.0.1, address: '10.0.0.1:5672'}\n",
			},
			notes: []string{
				"k:11: misc_path /usr/bin/curl -fsS -m 3 -u monitor:s3cret http:...: note: becomes an http check of the same URL (check type: http), which fails for a frozen node as the script did",
				"k:12: misc_timeout 5: note: the check's timeout is curl's -m",
				"k:13: misc_dynamic: not translated: no equivalent: the script's exit code set the weight",
				"k:18: misc_path curl -k -H 'X-A: b' https://10.0.0.2:15671/: note: becomes an http check of the same URL (check type: http), which fails for a frozen node as the script did; curl without -f passes on any answer, and so does the check (expect_status 100-599); over TLS that verifies no certificate, as curl -k (tls: {verify: none}); its headers (X-A: b) are not sent",
				"k:22: MISC_CHECK: not translated: curl of 127.0.0.1, this host, not the real server; no equivalent: rmqlb checks with AMQP",
				"k:27: MISC_CHECK: not translated: no equivalent: rmqlb checks with AMQP",
				"k:34: MISC_CHECK: not translated: no equivalent: rmqlb checks with AMQP",
			},
		},
		{
			// A check of the management API (or a TCP connect to its
			// port) stood for the broker's health: rmqlb checks the
			// broker's own port, where a frozen broker fails.
			name: "a check of the management port becomes the broker's",
			files: memFiles{
				"k": vrrpBlock + "}\nvirtual_server 10.0.0.100 5672 {\n real_server 10.0.0.1 5672 {\n  TCP_CHECK {\n   connect_port 15672\n  }\n }\n real_server 10.0.0.2 5672 {\n  TCP_CHECK {\n   connect_port 5672\n  }\n }\n}\n",
				"h": "listen amqps\n bind 10.0.0.101:5671\n option httpchk GET /api/health/checks/alarms\n server s1 10.0.0.1:5671 check port 15671 check-ssl verify none\n" +
					"listen metrics\n bind 10.0.0.101:5672\n server p1 10.0.0.1:5672 check port 15692\n",
			},
			src: Sources{Keepalived: "k", HAProxy: "h"},
			want: []string{
				"- {name: p1, address: '10.0.0.1:5672'}\n      - {name: 10.0.0.2, address: '10.0.0.2:5672'}\n",
				"bind: 10.0.0.101:5671\n    check: {tls: {verify: none}}\n    backends:\n      - {name: s1, address: '10.0.0.1:5671'}\n",
				"bind: 10.0.0.101:5672\n    backends:\n      - {name: p1, address: '10.0.0.1:5672'}\n",
			},
			not: []string{"1567", "15692", "type: tcp"},
			notes: []string{
				"k:10: TCP_CHECK: note: the check went to port 15672, RabbitMQ's management plugin's HTTP port: rmqlb checks the broker's own port, 5672, with an AMQP handshake, which fails",
				"h:3: option httpchk GET /api/health/checks/alarms: not translated:",
				"h:4: server s1 10.0.0.1:5671 check-ssl: note: went with the check of the plugin's port",
				"h:4: server s1 10.0.0.1:5671 check port 15671 check-ssl verify...: note: the check went to port 15671, RabbitMQ's management plugin's HTTPS port: rmqlb checks the broker's own port, 5671, with an AMQP handshake over TLS (check tls: {verify: none}",
				"h:7: server p1 10.0.0.1:5672 check port 15692: note: the check went to port 15692, RabbitMQ's Prometheus plugin's HTTP port",
			},
		},
		{
			name: "keepalived's scheduler: wlc without lb_algo, and for a name LVS does not know; LVS's others have no equivalent",
			files: memFiles{"k": vrrpBlock + "}\n" +
				"virtual_server 10.0.0.100 5672 {\n real_server 10.0.0.1 5672 {\n  weight 1\n }\n real_server 10.0.0.2 5672 {\n  weight 3\n }\n}\n" +
				"virtual_server 10.0.0.100 5673 {\n lb_algo loadbalance\n real_server 10.0.0.1 5673 {\n }\n}\n" +
				"virtual_server 10.0.0.100 5674 {\n lb_algo dh\n protocol TCP\n real_server 10.0.0.1 5674 {\n }\n}\n" +
				"virtual_server fwmark 5 {\n lb_algo rr\n real_server 10.0.0.1 5675 {\n }\n}\n"},
			src:  Sources{Keepalived: "k"},
			want: []string{"bind: 10.0.0.100:5672\n    policy: leastconn\n", "bind: 10.0.0.100:5673\n    policy: leastconn\n", "bind: 10.0.0.100:5674\n    backends:"},
			notes: []string{"k:17: lb_algo loadbalance: note: not a scheduler of LVS (keepalived ignores it, ipvsadm refuses it): the listener uses leastconn", "k:22: lb_algo dh: not translated: no equivalent: rmqlb has roundrobin, wrr and leastconn; the listener uses roundrobin",
				"k:8: virtual_server 10.0.0.100 5672: note: no protocol: keepalived makes it a UDP service", "k:16: virtual_server 10.0.0.100 5673: note: no protocol"},
			noNotes: []string{"k:21: virtual_server 10.0.0.100 5674: note: no protocol", "k:27: virtual_server fwmark 5: note: no protocol"},
		},
		{
			name: "an ipvsadm service without -s is LVS's wlc: leastconn",
			files: memFiles{"i": "-A -t 10.0.0.100:5672\n-a -t 10.0.0.100:5672 -r 10.0.0.1:5672 -m -w 1\n-A -t 10.0.0.100:5673 -s foo\n-a -t 10.0.0.100:5673 -r 10.0.0.1:5673 -m -w 1\n" +
				"-a -t 10.0.0.100:5673 -r rmq2:amqp -m -w 1\n-A -t rabbit-vip:amqp -s rr\n-a -t rabbit-vip:amqp -r rmq1:amqp -m -w 1\n"},
			src:  Sources{IPVSAdm: "i"},
			want: []string{"bind: 10.0.0.100:5672\n    policy: leastconn\n", "bind: 10.0.0.100:5673\n    policy: leastconn\n"},
			notes: []string{"i:3: -s foo: note: not a scheduler of LVS",
				"i:5: -a -t 10.0.0.100:5673 -r rmq2:amqp -m -w 1: not translated: the real server must be ADDRESS:PORT, not names: give rmqlb import the output of ipvsadm -Sn",
				"i:6: -A -t rabbit-vip:amqp -s rr: not translated: the service must be ADDRESS:PORT, not names: give rmqlb import the output of ipvsadm -Sn"},
		},
		{
			name: "HAProxy's http-mode lines in mode tcp have no effect, in HAProxy either",
			files: memFiles{"h": "defaults web\n mode http\n option forwardfor\ndefaults\n mode tcp\n option httpclose\n" +
				"listen amqp\n bind 10.0.0.100:5672\n option forwardfor\n server r1 10.0.0.1:5672\n" +
				"listen amqp2\n bind 10.0.0.100:5673\n mode tcp\n option forwardfor\n server r1 10.0.0.1:5672\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"name: amqp\n", "name: amqp2\n"},
			notes: []string{"h:6: option httpclose: not translated: no effect in mode tcp", "h:9: option forwardfor: not translated: no effect in mode tcp", "h:14: option forwardfor: not translated: no effect in mode tcp", "h:3: option forwardfor: not translated: http mode: rmqlb proxies TCP"},
		},
		{
			name:  "a timeout of the other side of a proxy has no effect, in HAProxy either",
			files: memFiles{"h": "frontend f\n bind 10.0.0.100:5672\n timeout client 3h\n timeout connect 5s\n timeout server 3h\n default_backend b\nbackend b\n timeout client 1h\n timeout server 3h\n timeout connect 4s\n server r1 10.0.0.1:5672\n"},
			src:   Sources{HAProxy: "h"},
			want:  []string{"connect_timeout: 4s\n    idle_timeout: 3h\n"},
			notes: []string{"h:4: timeout connect 5s: not translated: no effect in a frontend: HAProxy reads it in a backend only", "h:5: timeout server 3h: not translated: no effect in a frontend", "h:8: timeout client 1h: not translated: no effect in a backend: HAProxy reads it in a frontend only"},
		},
		{
			name: "unknown directives at every level are reported",
			files: memFiles{
				"k": "global_defs {\n frob 1\n}\nmystery {\n inner 2\n}\n" + vrrpBlock + " frob 3\n}\nvirtual_server 10.0.0.100 5672 {\n frob 4\n real_server 10.0.0.1 5672 {\n  frob 5\n  TCP_CHECK {\n   frob 6\n  }\n }\n}\n",
				"h": "defaults\n frob 7\nlisten l\n bind 10.0.0.100:5673\n frob 8\n server s 10.0.0.1:5672 frob\n",
			},
			src:   Sources{Keepalived: "k", HAProxy: "h"},
			want:  []string{"name: V", "name: V_5672", "name: l"},
			notes: []string{"k:2: frob 1: not translated: not known to rmqlb import", "k:4: mystery: not translated: not known", "k:13: frob 3: not translated: not known", "k:16: frob 4: not translated: not known", "k:18: frob 5: not translated: not known", "k:20: frob 6: not translated: not known", "h:2: frob 7: not translated: not known", "h:5: frob 8: not translated: not known", "h:6: server s 10.0.0.1:5672 frob: not translated: not known"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Import(tc.src, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			y := string(r.YAML)
			if strings.Contains(y, "vrrp_instances:") || strings.Contains(y, "listeners:") {
				if _, err := config.Parse(r.YAML); err != nil {
					t.Errorf("config.Parse refuses the file written: %v\n%s", err, y)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(y, w) {
					t.Errorf("the file lacks %q:\n%s", w, y)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(y, w) {
					t.Errorf("the file holds %q:\n%s", w, y)
				}
			}
			var all []string
			for _, n := range r.Notes {
				all = append(all, n.String())
				if n.Directive == "inner 2" {
					t.Errorf("a statement inside a reported block is reported again: %v", n)
				}
			}
		next:
			for _, w := range tc.notes {
				for _, n := range all {
					if strings.HasPrefix(n, w) {
						continue next
					}
				}
				t.Errorf("no note starts with %q; notes:\n%s", w, strings.Join(all, "\n"))
			}
			for _, w := range tc.noNotes {
				for _, n := range all {
					if strings.HasPrefix(n, w) {
						t.Errorf("note %q", n)
					}
				}
			}
		})
	}
}
