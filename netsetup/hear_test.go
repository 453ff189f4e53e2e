package netsetup

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestARPSenderFilter: frames sent by this host are dropped (the first
// jump lands on the drop), and of the rest only ARP frames whose sender is
// one of the VIPs pass; with more VIPs than the filter matches one by one,
// every received ARP frame passes. The part after the packet-type check
// runs in x/net/bpf's VM (which has no packet type).
func TestARPSenderFilter(t *testing.T) {
	for _, n := range []int{1, 2, maxFilteredVIPs, maxFilteredVIPs + 1} {
		vips := make([]netip.Addr, n)
		for i := range vips {
			vips[i] = netip.AddrFrom4([4]byte{10, 202, byte(i >> 8), byte(i)})
		}
		prog := arpSenderFilter(vips)
		if _, ok := prog[0].(bpf.LoadExtension); !ok {
			t.Fatalf("%d VIPs: first instruction %v", n, prog[0])
		}
		jmp, ok := prog[1].(bpf.JumpIf)
		if !ok || jmp.Val != unix.PACKET_OUTGOING {
			t.Fatalf("%d VIPs: second instruction %v", n, prog[1])
		}
		if ret, ok := prog[2+int(jmp.SkipTrue)].(bpf.RetConstant); !ok || ret.Val != 0 {
			t.Fatalf("%d VIPs: outgoing frames go to %v, want the drop", n, prog[2+int(jmp.SkipTrue)])
		}
		vm, err := bpf.NewVM(prog[2:])
		if err != nil {
			t.Fatalf("%d VIPs: %v", n, err)
		}
		frame := func(ip netip.Addr) []byte {
			f, err := GARPFrame(testMAC, ip)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		for _, ip := range []netip.Addr{vips[0], vips[n-1]} {
			if got, err := vm.Run(frame(ip)); err != nil || got == 0 {
				t.Errorf("%d VIPs: the announcement of VIP %v is dropped (%d, %v)", n, ip, got, err)
			}
		}
		other := netip.MustParseAddr("10.201.0.2")
		got, err := vm.Run(frame(other))
		if err != nil {
			t.Fatal(err)
		}
		if want := n > maxFilteredVIPs; (got != 0) != want {
			t.Errorf("%d VIPs: announcement of another address passes: %v, want %v", n, got != 0, want)
		}
	}
}
