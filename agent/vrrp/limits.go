package vrrp

import (
	"fmt"
	"time"
)

// MaxPassLen is the length of VRRPv2 PASS authentication data (RFC 2338
// section 5.3.10): a longer pass cannot be sent (keepalived silently cuts
// it; hac refuses it).
const MaxPassLen = authLen

// MaxAddrs is the most addresses one advert carries (the count is one
// byte).
const MaxAddrs = 255

// CheckAdvertInt says what is wrong with advertisement interval d for VRRP
// version, or returns nil: VRRPv2 carries whole seconds from 1 s to 255 s
// (RFC 3768 section 5.3.7), VRRPv3 centiseconds from 10 ms to 40.95 s
// (RFC 5798 section 5.2.7). Other versions are an error too.
func CheckAdvertInt(version int, d time.Duration) error {
	switch version {
	case 2:
		if d < time.Second || d > maxV2Int || d%time.Second != 0 {
			return fmt.Errorf("%v is not valid for VRRPv2: use whole seconds from 1s to 255s (or VRRPv3)", d)
		}
	case 3:
		if d < centi || d > maxCentis*centi || d%centi != 0 {
			return fmt.Errorf("%v is not valid for VRRPv3: use 10ms steps from 10ms to 40.95s", d)
		}
	default:
		return fmt.Errorf("VRRP version %d: use 2 or 3", version)
	}
	return nil
}
