package netsetup

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message (struct cmsghdr, then data, padded) as
// the kernel lays it out on 64-bit Linux.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	binary.NativeEndian.PutUint64(b[0:8], uint64(unix.CmsgLen(len(data))))
	binary.NativeEndian.PutUint32(b[8:12], uint32(level))
	binary.NativeEndian.PutUint32(b[12:16], uint32(typ))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func timespecBytes(sec, nsec int64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b[0:8], uint64(sec))
	binary.NativeEndian.PutUint64(b[8:16], uint64(nsec))
	return b
}

func TestParseControl(t *testing.T) {
	hop := make([]byte, 4)
	binary.NativeEndian.PutUint32(hop, 255)
	stamp := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(1796236800, 123456789))
	want := time.Unix(1796236800, 123456789)
	for _, c := range []struct {
		name    string
		oob     []byte
		rx      time.Time
		hop     int
		wantErr bool
	}{
		{"none", nil, time.Time{}, -1, false},
		{"timestamp", stamp, want, -1, false},
		{"timestamp and hop limit", append(append([]byte{}, stamp...), cmsg(unix.SOL_IPV6, unix.IPV6_HOPLIMIT, hop)...), want, 255, false},
		{"unknown message skipped", append(cmsg(unix.SOL_IP, unix.IP_TTL, hop), stamp...), want, -1, false},
		{"timestamp of another size skipped", cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, make([]byte, 8)), time.Time{}, -1, false},
		{"short hop limit", cmsg(unix.SOL_IPV6, unix.IPV6_HOPLIMIT, hop[:2]), time.Time{}, -1, true},
		{"shorter than a header: nothing", stamp[:10], time.Time{}, -1, false},
		{"length past the buffer", stamp[:24], time.Time{}, -1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cm, err := parseControl(c.oob)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if !cm.rx.Equal(c.rx) || cm.hopLimit != c.hop {
				t.Fatalf("got rx %v hop %d, want rx %v hop %d", cm.rx, cm.hopLimit, c.rx, c.hop)
			}
		})
	}
}

// FuzzParseControl: any control buffer gives messages or an error, never
// a panic.
func FuzzParseControl(f *testing.F) {
	f.Add(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, timespecBytes(1, 2)))
	f.Add(cmsg(unix.SOL_IPV6, unix.IPV6_HOPLIMIT, []byte{255, 0, 0, 0}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		parseControl(oob)
	})
}
