#!/bin/bash
# capture.sh captures VRRP adverts sent by the Debian keepalived package
# (2.2.7) inside two throw-away network namespaces and writes each capture as
# a pcap file plus the VRRP payload of the first advert (and of the priority-0
# advert sent at shutdown) as hex. See README.md in this directory.
#
# Usage (as root): bash capture.sh OUTDIR
set -euo pipefail
OUT=${1:?usage: capture.sh OUTDIR}
mkdir -p "$OUT"
SUF=$$
KA=rmqlbcapk$SUF   # namespace running keepalived
TP=rmqlbcapt$SUF   # namespace running tcpdump
TMP=$(mktemp -d)
cleanup() {
	[ -f "$TMP/mykpid" ] && kill "$(cat "$TMP/mykpid")" 2>/dev/null || true
	ip netns del "$KA" 2>/dev/null || true
	ip netns del "$TP" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$KA"
ip netns add "$TP"
ip link add vk$SUF type veth peer name vt$SUF
ip link set vk$SUF netns "$KA"
ip link set vt$SUF netns "$TP"
ip -n "$KA" link set lo up
ip -n "$TP" link set lo up
ip -n "$KA" addr add 10.99.0.1/24 dev vk$SUF
ip -n "$TP" addr add 10.99.0.2/24 dev vt$SUF
ip -n "$KA" link set vk$SUF up
ip -n "$TP" link set vt$SUF up

# run NAME CONFIG-BODY: start tcpdump in $TP, keepalived in $KA for 4 s,
# SIGTERM keepalived (priority-0 advert), stop tcpdump.
run() {
	local name=$1 body=$2
	cat >"$TMP/$name.conf" <<CONF
global_defs {
	router_id rmqlbcap
	enable_script_security
}
vrrp_instance cap {
	interface vk$SUF
$body
}
CONF
	cp "$TMP/$name.conf" "$OUT/$name.keepalived.conf"
	sed -i "s/vk$SUF/IFACE/" "$OUT/$name.keepalived.conf"
	ip netns exec "$TP" tcpdump -i vt$SUF -U -n -w "$OUT/$name.pcap" 'ip proto 112 or ip6 proto 112' 2>"$TMP/$name.tcpdump.log" &
	local tpid=$!
	sleep 1
	ip netns exec "$KA" /usr/sbin/keepalived -n -l -D -P -f "$TMP/$name.conf" \
		-p "$TMP/ka.pid" -r "$TMP/vrrp.pid" >"$TMP/$name.ka.log" 2>&1 &
	local kpid=$!
	echo "$kpid" >"$TMP/mykpid"
	sleep 4
	kill -TERM "$kpid" || { echo "keepalived exited early:"; cat "$TMP/$name.ka.log"; exit 1; }
	wait "$kpid" || true
	rm -f "$TMP/mykpid"
	sleep 1
	kill -INT "$tpid"
	wait "$tpid" || true
}

run v2-pass '	state MASTER
	version 2
	virtual_router_id 51
	priority 150
	advert_int 1
	authentication {
		auth_type PASS
		auth_pass passwd
	}
	virtual_ipaddress {
		10.99.0.100/24
	}'

run v3-multicast '	state MASTER
	version 3
	virtual_router_id 52
	priority 150
	advert_int 0.1
	virtual_ipaddress {
		10.99.0.100/24
		10.99.0.101/24
	}'

run v3-unicast '	state MASTER
	version 3
	virtual_router_id 53
	priority 100
	advert_int 0.1
	unicast_src_ip 10.99.0.1
	unicast_peer {
		10.99.0.2
	}
	virtual_ipaddress {
		10.99.0.100/24
	}'

run v3-unicast-old '	state MASTER
	version 3
	virtual_router_id 54
	priority 100
	advert_int 0.1
	old_unicast_checksum
	unicast_src_ip 10.99.0.1
	unicast_peer {
		10.99.0.2
	}
	virtual_ipaddress {
		10.99.0.100/24
	}'
# VRRPv3 over IPv6: source is the link-local address of the veth.
run v3-ipv6 '	state MASTER
	version 3
	virtual_router_id 55
	priority 150
	advert_int 0.1
	virtual_ipaddress {
		fd00:99::100/64
	}'
# Write the first advertisement and the last one (the priority-0 advert
# sent on SIGTERM) of each capture as hex, one whole IP packet a line.
for f in "$OUT"/*.pcap; do
	name=$(basename "$f" .pcap)
	{
		echo "# $name: IP packets (IP header + VRRP message) sent by keepalived 2.2.7, captured with tcpdump; see ../README.md"
		echo "# first advertisement, then the priority-0 advertisement sent on SIGTERM"
		tcpdump -r "$f" -n -x 2>/dev/null | awk '
			/^[^\t]/ { if (cur != "") pk[n++] = cur; cur = "" ; next }
			{ sub(/^[ \t]*0x[0-9a-f]+:[ \t]*/, ""); gsub(/[ \t]/, ""); cur = cur $0 }
			END { if (cur != "") pk[n++] = cur; print pk[0]; print pk[n-1] }'
	} >"$OUT/$name.hex"
done
echo done
