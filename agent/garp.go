package agent

import (
	"time"

	"github.com/hac-project/hac/agent/config"
)

// garpSchedule is when an instance that became master sends its bursts
// of gratuitous ARP / unsolicited NA (keepalived's garp_master_*
// settings): repeat rounds at once, repeat rounds again after delay, and
// refresh_repeat rounds every refresh while master. Its one job is the
// schedule: it says how many rounds are due and arms its timer for the
// next burst; the instance sends them ([leasedVIPs.announce]). It is owned
// by its instance's goroutine.
type garpSchedule struct {
	cfg       config.GARP
	at        time.Time // the second burst (delay); zero: none
	refreshAt time.Time // the next refresh; zero: none
	timer     Timer
}

// repeat is how many rounds a burst on becoming master has.
func (g *garpSchedule) repeat() int { return max(g.cfg.Repeat, 1) }

// start schedules the bursts that follow the one sent at now, on
// becoming master.
func (g *garpSchedule) start(now time.Time) {
	g.at, g.refreshAt = time.Time{}, time.Time{}
	if d := time.Duration(g.cfg.Delay); d > 0 {
		g.at = now.Add(d)
	}
	if d := time.Duration(g.cfg.Refresh); d > 0 {
		g.refreshAt = now.Add(d)
	}
}

// stop cancels the bursts still to come (the VIPs are removed).
func (g *garpSchedule) stop() { g.at, g.refreshAt = time.Time{}, time.Time{} }

// due returns how many rounds are due at now and schedules the next
// refresh; 0: none.
func (g *garpSchedule) due(now time.Time) int {
	n := 0
	if !g.at.IsZero() && !now.Before(g.at) {
		g.at = time.Time{}
		n += g.repeat()
	}
	if !g.refreshAt.IsZero() && !now.Before(g.refreshAt) {
		g.refreshAt = now.Add(time.Duration(g.cfg.Refresh))
		n += max(g.cfg.RefreshRepeat, 1)
	}
	return n
}

// next returns the time of the next burst; zero: none.
func (g *garpSchedule) next() time.Time {
	next := g.at
	if !g.refreshAt.IsZero() && (next.IsZero() || g.refreshAt.Before(next)) {
		next = g.refreshAt
	}
	return next
}

// arm sets the timer to the next burst, or stops it when none is due.
func (g *garpSchedule) arm(now time.Time) {
	if next := g.next(); next.IsZero() {
		g.timer.Stop()
	} else {
		g.timer.Reset(max(next.Sub(now), 0))
	}
}

// reconfigure takes the settings of c from now: the next refresh is one
// new refresh interval away when the VIPs are held (none when turned off);
// a second burst still due keeps its time.
func (g *garpSchedule) reconfigure(c config.GARP, held bool, now time.Time) {
	g.cfg = c
	g.refreshAt = time.Time{}
	if held && c.Refresh > 0 {
		g.refreshAt = now.Add(time.Duration(c.Refresh))
	}
}
