package proxyproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ReadHeader reads exactly one PROXY protocol header from r, consuming no
// byte past its end, so that r can be handed on to the payload's reader. It
// reads one byte at a time until the version is known and, for version 2,
// the rest in one io.ReadFull; it is meant for servers in tests and tools,
// not for a hot path.
//
// It returns io.EOF if r ends before the first byte, io.ErrUnexpectedEOF if
// it ends inside the header, and Parse's errors otherwise.
func ReadHeader(r io.Reader) (Header, error) {
	buf := make([]byte, 0, 64)
	var one [1]byte
	for {
		h, _, err := Parse(buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			if err != nil {
				return Header{}, fmt.Errorf("reading PROXY header: %w", err)
			}
			return h, nil
		}
		if len(buf) >= V2HeaderLen && agrees(buf, sigV2[:]) {
			// The fixed part of a v2 header is in: read the rest at once.
			need := V2HeaderLen + int(binary.BigEndian.Uint16(buf[14:16]))
			buf = append(buf, make([]byte, need-len(buf))...)
			if _, err := io.ReadFull(r, buf[V2HeaderLen:]); err != nil {
				return Header{}, fmt.Errorf("reading PROXY header: %w", eofInside(err))
			}
			continue
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if len(buf) == 0 && errors.Is(err, io.EOF) {
				return Header{}, io.EOF
			}
			return Header{}, fmt.Errorf("reading PROXY header: %w", eofInside(err))
		}
		buf = append(buf, one[0])
	}
}

func eofInside(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
