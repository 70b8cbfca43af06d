package compiler

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true}, {"100ms", 100 * time.Millisecond, true}, {"1.5s", 1500 * time.Millisecond, true},
		{"2m", 2 * time.Minute, true}, {"0s", 0, true}, {"40.95s", 40950 * time.Millisecond, true},
		{"1", 0, false}, {"1 s", 0, false}, {"s", 0, false}, {"1.s", 0, false}, {"-1s", 0, false}, {"25h", 0, false},
		{"1.0000000001ms", 0, false}, {"0.00010000000000m", 6 * time.Millisecond, true},
	} {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseDuration checks parseDuration against time.ParseDuration, which
// accepts a superset of hac's durations.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1s", "100ms", "1.5s", "40.95s", "2m", "1h", "0.000000001s", "24h", "99999999999999999999h", "1.s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		want, err := time.ParseDuration(s)
		// time.ParseDuration scales a long fraction with a float64 and
		// truncates ("0.00010000000000m" is 5.999999ms there): exact
		// here, one nanosecond above it at most.
		if err != nil || d < 0 || (want != d && !(d-want == 1 && strings.Contains(s, "."))) {
			t.Fatalf("parseDuration(%q) = %v, time.ParseDuration = %v, %v", s, d, want, err)
		}
	})
}

// FuzzParseVIP checks that an accepted VIP prints and re-parses to itself.
func FuzzParseVIP(f *testing.F) {
	for _, s := range []string{"192.168.200.102", "192.168.200.102/24", "2001:db8::1", "2001:db8::1/64", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseVIP(s)
		if err != nil {
			return
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("parseVIP(%q) accepted %v", s, p)
		}
		again, err := parseVIP(p.String())
		if err != nil || again != p {
			t.Fatalf("parseVIP(%q) = %v, re-parsed %v, %v", s, p, again, err)
		}
	})
}

// FuzzParseAddr checks that an accepted address is plain and round-trips.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"192.168.200.11", "2001:db8::11", "1.2.3.4/32", "fe80::1%eth0", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAddr(s)
		if err != nil {
			return
		}
		if again, err := parseAddr(a.String()); err != nil || again != a || a.Zone() != "" {
			t.Fatalf("parseAddr(%q) = %v, re-parsed %v, %v", s, a, again, err)
		}
		if p, err := parseSubnet(netip.PrefixFrom(a, a.BitLen()).String()); err != nil || p.Addr() != a {
			t.Fatalf("parseSubnet of host prefix %v: %v, %v", a, p, err)
		}
	})
}
