package fsm

import (
	"time"

	"github.com/hac-project/hac/election"
)

// DefaultDownAdverts is the number of advert intervals in the
// Master_Down_Interval ([election.DefaultDownAdverts]).
const DefaultDownAdverts = election.DefaultDownAdverts

// SkewTime is [election.SkewTime], the one home of the timers shared with
// the compiler, hac explain and hac status.
func SkewTime(version int, priority uint8, masterAdverInt time.Duration) time.Duration {
	return election.SkewTime(version, priority, masterAdverInt)
}

// MasterDownInterval is [election.MasterDownInterval].
func MasterDownInterval(version int, priority uint8, masterAdverInt time.Duration, downAdverts int) time.Duration {
	return election.MasterDownInterval(version, priority, masterAdverInt, downAdverts)
}
