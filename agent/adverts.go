package agent

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
)

// rxQueue is how many valid adverts wait for the instance goroutine; when
// it is full the newest is dropped and counted (queue_full).
const rxQueue = 64

// received is a valid advert and where it came from.
type received struct {
	p      *vrrp.Packet
	src    netip.Addr
	differ bool // its VIP set differs from ours
}

// advertIO is one instance's advert I/O on its VRRP socket (which it may
// share with other instances, see [sharedConn]); that is its one job. It
// sends the instance's adverts to every destination (the group address or
// the unicast peers) and probes whether they could be sent; and it checks
// every received packet before the instance sees it, so that only valid
// adverts are queued (msgs) and a flood of invalid packets costs no more
// than their checks: the others are dropped, counted per reason and
// logged at most every warnEvery per reason.
//
// The instance's goroutine owns it, except for what deliver uses on the
// socket's reader goroutine: exp (replaced whole), msgs, and the drop
// counters and their log (under dropMu).
type advertIO struct {
	conn netio.Conn
	src  netip.Addr
	dsts []netip.Addr
	pkt  vrrp.Packet // the advert, without its priority
	// enc is the encoded advert to each of dsts with priority encPrio
	// (-1: none yet): a master sends the same advert every interval, and
	// encodes it again only when its priority, VIPs or socket changed.
	// Conn.Send keeps nothing of it. encErrs[i] is why enc[i] could not
	// be encoded.
	enc     [][]byte
	encErrs []error
	encPrio int

	// exp is what deliver checks adverts with.
	exp  atomic.Pointer[vrrp.Expect]
	msgs chan received

	clock   Clock
	log     *slog.Logger
	dropMu  sync.Mutex
	drops   map[string]uint64
	dropLog warnings
}

// newAdvertIO returns the advert I/O of an instance, before it has a
// socket (attach) and its adverts (setup).
func newAdvertIO(clock Clock, log *slog.Logger) *advertIO {
	return &advertIO{clock: clock, log: log, msgs: make(chan received, rxQueue), drops: map[string]uint64{}, encPrio: -1}
}

// attach makes conn the socket; its source address is the adverts'.
func (ad *advertIO) attach(conn netio.Conn) {
	ad.conn, ad.src = conn, conn.Source()
	ad.encPrio = -1
}

// setup prepares the adverts of an instance configured as c (six: an IPv6
// instance) with VIPs addrs, what received ones are checked against, and
// where they go; it needs the socket (attach).
func (ad *advertIO) setup(c *config.Instance, six bool, addrs []netip.Addr) {
	ad.pkt = vrrp.Packet{Version: c.Version, VRID: c.VRID, AdvertInt: time.Duration(c.AdvertInt), Addrs: addrs}
	if c.Version == 2 && c.Auth != nil {
		ad.pkt.AuthType, ad.pkt.Auth = vrrp.AuthPass, vrrp.PassAuth(c.Auth.Pass)
	}
	exp := expectFor(c, ad.src, addrs)
	ad.exp.Store(&exp)
	switch {
	case c.Unicast:
		ad.dsts = c.Peers
	case six:
		ad.dsts = []netip.Addr{vrrp.GroupIPv6}
	default:
		ad.dsts = []netip.Addr{vrrp.GroupIPv4}
	}
	ad.enc, ad.encErrs, ad.encPrio = make([][]byte, len(ad.dsts)), make([]error, len(ad.dsts)), -1
}

// setAddrs changes the VIPs the adverts carry and the received ones are
// checked against.
func (ad *advertIO) setAddrs(addrs []netip.Addr) {
	ad.pkt.Addrs = addrs
	ad.encPrio = -1
	exp := *ad.exp.Load()
	exp.Addrs = addrs
	ad.exp.Store(&exp)
}

// sendError is an advert that could not be sent to dst.
type sendError struct {
	dst netip.Addr
	err error
}

// send sends one advert with priority prio to every destination; it
// returns how many were sent and the failures.
func (ad *advertIO) send(prio uint8) (sent int, failed []sendError) {
	if int(prio) != ad.encPrio {
		ad.encode(prio)
	}
	for i, dst := range ad.dsts {
		err := ad.encErrs[i]
		if err == nil {
			err = ad.conn.Send(ad.enc[i], ad.src, dst)
		}
		if err != nil {
			failed = append(failed, sendError{dst: dst, err: err})
			continue
		}
		sent++
	}
	return sent, failed
}

// encode encodes the advert with priority prio to every destination
// into enc, and why one could not be into encErrs.
func (ad *advertIO) encode(prio uint8) {
	p := ad.pkt
	p.Priority = prio
	for i, dst := range ad.dsts {
		ad.enc[i], ad.encErrs[i] = p.AppendMarshal(ad.enc[i][:0], ad.src, dst)
	}
	ad.encPrio = int(prio)
}

// probe checks, without sending, whether adverts could be sent to every
// destination; it returns the first that cannot be reached and why.
func (ad *advertIO) probe() (netip.Addr, error) {
	for _, dst := range ad.dsts {
		if err := ad.conn.Probe(ad.src, dst); err != nil {
			return dst, err
		}
	}
	return netip.Addr{}, nil
}

// deliver checks a received packet on the socket's reader goroutine and
// queues it for the instance if it is a valid advert; an invalid one is
// dropped and counted, and so is a valid one when the queue is full (the
// newest is dropped).
func (ad *advertIO) deliver(m netio.Message) { ad.deliverAs(m, ad.exp.Load()) }

// deliverAs is deliver checking the packet against exp: the instance's
// own expectations, or another identity's it watches (see watcher).
func (ad *advertIO) deliverAs(m netio.Message, exp *vrrp.Expect) {
	p, err := vrrp.Parse(m.Payload, m.Src, m.Dst)
	var differ bool
	if err == nil {
		differ, err = exp.Check(p, m.Src, m.TTL, m.Multicast())
	}
	if err != nil {
		reason := "invalid"
		if de, ok := err.(*vrrp.DropError); ok {
			reason = string(de.Reason)
		}
		ad.drop(reason, err)
		return
	}
	select {
	case ad.msgs <- received{p: p, src: m.Src, differ: differ}:
	default:
		ad.drop("queue_full", errQueueFull)
	}
}

// errQueueFull is the detail of a queue_full drop.
var errQueueFull = fmt.Errorf("receive queue full (%d valid adverts waiting): the newest dropped; a flood of valid adverts?", rxQueue)

// drop counts a discarded packet and logs why, rate-limited per reason.
// It runs on the socket's reader goroutine; the error is only formatted
// when logged.
func (ad *advertIO) drop(reason string, why error) {
	ad.dropMu.Lock()
	defer ad.dropMu.Unlock()
	ad.drops[reason]++
	if ok, skipped := ad.dropLog.allow(reason, ad.clock.Now()); ok {
		ad.log.Warn("advert dropped (counted in status; logged at most every "+warnEvery.String()+" per reason)", "reason", reason, "detail", why.Error(), "not_logged", skipped)
	}
}

// dropCounts returns a copy of the drop counters.
func (ad *advertIO) dropCounts() map[string]uint64 {
	ad.dropMu.Lock()
	defer ad.dropMu.Unlock()
	return maps.Clone(ad.drops)
}
