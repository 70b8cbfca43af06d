package vrrp

import "fmt"

// A DropReason says why an advert was discarded. Its string is a stable,
// short key for counters and logs ("drops by reason").
type DropReason string

// The drop reasons. [Parse] reports the first seven and VRID 0;
// [Expect.Check] the rest, and VRID, version, auth type and interval
// mismatches.
const (
	DropLength    DropReason = "length"      // shorter than the header, or no valid layout
	DropVersion   DropReason = "version"     // not 2 or 3, VRRPv2 over IPv6, or not the instance's version
	DropType      DropReason = "type"        // not an ADVERTISEMENT (type 1)
	DropAddrCount DropReason = "addr_count"  // count field disagrees with the length, or 0 in VRRPv3
	DropAuthType  DropReason = "auth_type"   // unsupported, or not the instance's auth type
	DropInterval  DropReason = "interval"    // zero, or (VRRPv2) not the instance's advert_int
	DropChecksum  DropReason = "checksum"    // checksum wrong in every accepted form
	DropVRID      DropReason = "vrid"        // VRID 0, or no instance with this VRID
	DropAuth      DropReason = "auth"        // VRRPv2 PASS data differs
	DropTTL       DropReason = "ttl"         // multicast advert with TTL / hop limit not 255
	DropMode      DropReason = "mode"        // multicast advert to a unicast instance or the reverse
	DropFamily    DropReason = "family"      // IPv4 addresses in an IPv6 advert or the reverse
	DropSource    DropReason = "source"      // unicast source is not a configured peer
	DropOwnAddr   DropReason = "own_address" // source is our own address: another node uses it, or spoofs it
)

// DropReasons lists every reason, in a stable order, so counters can be
// created (and shown as zero) up front.
var DropReasons = []DropReason{
	DropLength, DropVersion, DropType, DropAddrCount, DropAuthType, DropInterval,
	DropChecksum, DropVRID, DropAuth, DropTTL, DropMode, DropFamily, DropSource, DropOwnAddr,
}

// A DropError is a rejected advert: the reason, and a detail for the log
// that is only formatted when asked for (a flood of invalid packets costs
// no formatting). The detail never contains authentication data.
type DropError struct {
	Reason DropReason
	format string
	args   []any
}

// Detail says what was wrong with the advert, for the log.
func (e *DropError) Detail() string { return fmt.Sprintf(e.format, e.args...) }

// Error implements error.
func (e *DropError) Error() string {
	return fmt.Sprintf("vrrp: drop advert (%s): %s", e.Reason, e.Detail())
}

func drop(r DropReason, format string, args ...any) error {
	return &DropError{Reason: r, format: format, args: args}
}
