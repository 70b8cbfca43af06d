package compiler

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// durationUnits are the units a duration may end with, longest first so
// that "ms" is tried before "m".
var durationUnits = []struct {
	name string
	d    time.Duration
}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}

// errDuration is returned for any malformed duration.
var errDuration = errors.New(`want a duration such as "1s", "100ms", "1.5s" or "2m"`)

// parseDuration parses the schema's #Duration: digits, an optional
// fraction and one unit of ms, s, m or h. It is exact (no floating point)
// and refuses values beyond a day or finer than a nanosecond.
func parseDuration(s string) (time.Duration, error) {
	var unit time.Duration
	num := ""
	for _, u := range durationUnits {
		if rest, ok := strings.CutSuffix(s, u.name); ok {
			unit, num = u.d, rest
			break
		}
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if unit == 0 || !allDigits(whole) || (hasFrac && !allDigits(frac)) {
		return 0, errDuration
	}
	const limit = 24 * time.Hour
	var d time.Duration
	for _, c := range whole {
		d = d*10 + time.Duration(c-'0')*unit
		if d > limit {
			return 0, fmt.Errorf("%q is too long: at most 24h", s)
		}
	}
	scale := unit
	for _, c := range frac {
		if scale%10 != 0 {
			if c != '0' {
				return 0, fmt.Errorf("%q is finer than a nanosecond", s)
			}
			continue
		}
		scale /= 10
		d += time.Duration(c-'0') * scale
	}
	if d > limit {
		return 0, fmt.Errorf("%q is too long: at most 24h", s)
	}
	return d, nil
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseAddr parses a plain IPv4 or IPv6 address: no prefix length, no
// zone, no IPv4-mapped IPv6 form.
func parseAddr(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Errorf("%q has a prefix length: write the address alone", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return checkAddr(s, a)
}

// checkAddr refuses zoned and IPv4-mapped addresses.
func checkAddr(s string, a netip.Addr) (netip.Addr, error) {
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone: write the address without %%zone", s)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address: write %s", s, a.Unmap())
	}
	return a, nil
}

// parseSubnet parses a prefix such as "192.168.200.0/24". Host bits must
// be zero, so that the subnet is written as people read it.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix such as \"192.168.200.0/24\"", s)
	}
	if _, err := checkAddr(s, p.Addr()); err != nil {
		return netip.Prefix{}, err
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: write %s", s, p.Masked())
	}
	return p, nil
}

// parseVIP parses a virtual address, "a.b.c.d" or "a.b.c.d/len" (IPv6
// likewise). Without a length the VIP is a host address (/32 or /128);
// with one, the address keeps its host bits.
func parseVIP(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address such as \"192.168.200.102\" or \"192.168.200.102/24\"", s)
	}
	if _, err := checkAddr(s, p.Addr()); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}
