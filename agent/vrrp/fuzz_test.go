package vrrp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/vrrp"
)

// FuzzParse feeds Parse and UnmarshalBinary arbitrary messages and IP
// addresses. A message that parses must marshal, and re-parse to the same
// value; a rejection must be a *DropError. The seed corpus in
// testdata/fuzz/FuzzParse holds real keepalived 2.2.7 adverts (see
// TestKeepalivedCapture) besides the golden vectors added here.
func FuzzParse(f *testing.F) {
	for _, g := range golden {
		b, err := g.p.Marshal(g.src, g.dst)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, g.src.AsSlice(), g.dst.AsSlice())
	}
	f.Fuzz(func(t *testing.T, b, srcb, dstb []byte) {
		src, _ := netip.AddrFromSlice(srcb)
		dst, _ := netip.AddrFromSlice(dstb)
		if p, err := vrrp.Parse(b, src, dst); err == nil {
			b2, err := p.Marshal(src, dst)
			if err != nil {
				t.Fatalf("Parse(%x) = %+v, which does not marshal: %v", b, p, err)
			}
			p2, err := vrrp.Parse(b2, src, dst)
			if err != nil {
				t.Fatalf("re-Parse(%x): %v", b2, err)
			}
			if diff := cmp.Diff(p, p2, cmpAddr); diff != "" {
				t.Fatalf("Parse(Marshal(Parse(%x))) (-first +second):\n%s", b, diff)
			}
		} else if src.Unmap().Is6() == dst.Unmap().Is6() && src.IsValid() && dst.IsValid() {
			var de *vrrp.DropError
			if !errors.As(err, &de) {
				t.Fatalf("Parse(%x) error %v is not a *DropError", b, err)
			}
		}
		var p vrrp.Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		b2, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("UnmarshalBinary(%x) = %+v, which does not marshal: %v", b, p, err)
		}
		var p2 vrrp.Packet
		if err := p2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("re-UnmarshalBinary(%x): %v", b2, err)
		}
		if diff := cmp.Diff(p, p2, cmpAddr); diff != "" {
			t.Fatalf("UnmarshalBinary round trip of %x (-first +second):\n%s", b, diff)
		}
	})
}

// seed is one FuzzParse corpus entry: a message and its IP addresses.
type seed struct {
	msg      []byte
	src, dst netip.Addr
}

const seedHeader = "go test fuzz v1\n"

// writeSeed writes s in the go test fuzz v1 format.
func writeSeed(path string, s seed) error {
	var b bytes.Buffer
	b.WriteString(seedHeader)
	for _, v := range [][]byte{s.msg, s.src.AsSlice(), s.dst.AsSlice()} {
		fmt.Fprintf(&b, "[]byte(%q)\n", v)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// readSeed reads a corpus file written by writeSeed (or by go test -fuzz).
func readSeed(path string) (seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return seed{}, err
	}
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(data), seedHeader)), "\n")
	if len(lines) != 3 {
		return seed{}, fmt.Errorf("%s: %d values, want 3", path, len(lines))
	}
	var vals [3][]byte
	for i, l := range lines {
		q, ok := strings.CutPrefix(l, "[]byte(")
		if q, ok = strings.CutSuffix(q, ")"); !ok {
			return seed{}, fmt.Errorf("%s: line %q is not a []byte value", path, l)
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			return seed{}, fmt.Errorf("%s: %w", path, err)
		}
		vals[i] = []byte(s)
	}
	src, ok1 := netip.AddrFromSlice(vals[1])
	dst, ok2 := netip.AddrFromSlice(vals[2])
	if !ok1 || !ok2 {
		return seed{}, fmt.Errorf("%s: bad addresses %x %x", path, vals[1], vals[2])
	}
	return seed{msg: vals[0], src: src, dst: dst}, nil
}
