package pcap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteRead(t *testing.T) {
	want := []Packet{
		{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, Payload: []byte{0x31, 1, 2, 3}},
		{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12"), TTL: 64, Payload: []byte{0x31, 4, 5}},
	}
	var b bytes.Buffer
	if err := Write(&b, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Read(Write) (-want +got):\n%s", diff)
	}
}

func TestReadRejects(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 24), append([]byte{0xd4, 0xc3, 0xb2, 0xa1}, make([]byte, 20)...)} {
		if _, err := Read(bytes.NewReader(b)); err == nil {
			t.Errorf("Read(%x) succeeded", b)
		}
	}
}
