package fsm

import "time"

// DefaultDownAdverts is the number of advert intervals in the
// Master_Down_Interval: 3 in RFC 5798 section 6.1, keepalived's default
// down_timer_adverts.
const DefaultDownAdverts = 3

// SkewTime is the Skew_Time of RFC 5798 section 6.1 for a backup of the
// given priority: ((256 - priority) * masterAdverInt) / 256 for VRRPv3, and
// (256 - priority) / 256 seconds for VRRPv2 (RFC 3768 section 6.1, where it
// does not depend on the interval). It multiplies before dividing, so v3
// priority 100 at 1 s gives exactly 0.609375 s.
func SkewTime(version int, priority uint8, masterAdverInt time.Duration) time.Duration {
	if version == 2 {
		masterAdverInt = time.Second
	}
	return time.Duration(256-int64(priority)) * masterAdverInt / 256
}

// MasterDownInterval is the Master_Down_Interval of RFC 5798 section 6.1:
// downAdverts * masterAdverInt + Skew_Time (downAdverts is 3 in the RFC,
// keepalived's down_timer_adverts). For VRRPv2 (RFC 3768 section 6.1)
// masterAdverInt is the local Advertisement_Interval. Priority 150, v2, 1 s
// gives 3.4140625 s; priority 200, v3, 0.5 s gives 1.609375 s.
func MasterDownInterval(version int, priority uint8, masterAdverInt time.Duration, downAdverts int) time.Duration {
	return time.Duration(downAdverts)*masterAdverInt + SkewTime(version, priority, masterAdverInt)
}
