package netio

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

func TestPickSource(t *testing.T) {
	ifi := &net.Interface{Index: 3, Name: "eth1"}
	msg := func(idx uint32, a string, flags uint32) rtnetlink.AddressMessage {
		ip := netip.MustParseAddr(a)
		fam := uint8(unix.AF_INET)
		if ip.Is6() {
			fam = unix.AF_INET6
		}
		return rtnetlink.AddressMessage{Family: fam, Index: idx, Attributes: &rtnetlink.AddressAttributes{Address: ip.AsSlice(), Flags: flags}}
	}
	msgs := []rtnetlink.AddressMessage{
		msg(2, "198.18.0.9", 0),
		msg(3, "198.18.0.102", unix.IFA_F_SECONDARY),
		msg(3, "198.18.0.11", 0),
		msg(3, "2001:db8:18::11", 0),
		msg(3, "fe80::1", unix.IFA_F_TENTATIVE),
		msg(3, "fe80::2", 0),
	}
	tests := []struct {
		name    string
		msgs    []rtnetlink.AddressMessage
		cfg     Config
		want    string
		wantErr bool // ErrSourceNotReady
		missing bool // and ErrSourceMissing: not worth waiting for
	}{
		{"IPv4 primary, skipping secondaries and other interfaces", msgs, Config{}, "198.18.0.11", false, false},
		{"IPv4 primary, skipping a VIP that became primary", append([]rtnetlink.AddressMessage{msg(3, "198.18.0.200", 0)}, msgs...),
			Config{NotSource: []netip.Addr{netip.MustParseAddr("198.18.0.200")}}, "198.18.0.11", false, false},
		{"IPv4 configured secondary", msgs, Config{Source: netip.MustParseAddr("198.18.0.102")}, "198.18.0.102", false, false},
		{"IPv6 link-local, skipping tentative", msgs, Config{IPv6: true}, "fe80::2", false, false},
		{"IPv6 configured global", msgs, Config{IPv6: true, Source: netip.MustParseAddr("2001:db8:18::11")}, "2001:db8:18::11", false, false},
		{"IPv6 only tentative", msgs[:5], Config{IPv6: true}, "", true, false},
		{"IPv6 configured, DAD failed", append(msgs, msg(3, "2001:db8:18::12", unix.IFA_F_DADFAILED|unix.IFA_F_TENTATIVE)),
			Config{IPv6: true, Source: netip.MustParseAddr("2001:db8:18::12")}, "", true, true},
		{"configured source missing", msgs, Config{Source: netip.MustParseAddr("198.18.0.50")}, "", true, true},
		{"no addresses", nil, Config{}, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Interface = ifi
			got, err := pickSource(tt.msgs, tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrSourceNotReady) || errors.Is(err, ErrSourceMissing) != tt.missing {
					t.Errorf("pickSource = %v, %v; want ErrSourceNotReady, ErrSourceMissing %v", got, err, tt.missing)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Errorf("pickSource = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}
