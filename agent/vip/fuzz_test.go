package vip

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// FuzzDecodeEvents feeds arbitrary rtnetlink payloads to the event
// decoder: it must never panic, and decoded address events carry valid
// prefixes.
func FuzzDecodeEvents(f *testing.F) {
	for _, p := range []string{"198.18.0.200/32", "2001:db8:18::200/128", "198.18.0.201/24"} {
		b, err := message(2, netip.MustParsePrefix(p)).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(unix.RTM_NEWADDR), b)
		f.Add(uint16(unix.RTM_DELADDR), b)
	}
	f.Add(uint16(unix.RTM_NEWLINK), make([]byte, 16))
	f.Add(uint16(unix.RTM_DELLINK), []byte{0, 0, 1, 0, 2, 0, 0, 0, 0x43, 0x10, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		evs := decodeEvents([]netlink.Message{{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: data}})
		for _, e := range evs {
			if (e.Kind == AddrAdded || e.Kind == AddrRemoved) && !e.Prefix.IsValid() {
				t.Errorf("decoded %v with an invalid prefix from %x", e.Kind, data)
			}
		}
	})
}
