package netns

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ProbeResult is what a [Prober] saw.
type ProbeResult struct {
	Sent     int // echo requests sent
	Received int // distinct echo replies received
	Lost     int // Sent - Received
	// MaxGap is the longest time between two consecutive replies, or
	// between the last reply and the end of the probe; from the start of
	// the probe when no reply came at all.
	MaxGap time.Duration
}

// String formats the result for logs.
func (r ProbeResult) String() string {
	return fmt.Sprintf("sent %d, received %d, lost %d, longest gap %v", r.Sent, r.Received, r.Lost, r.MaxGap)
}

// A Prober sends ICMP echo requests from a namespace to one address at a
// fixed interval and records the replies.
type Prober struct {
	conn   *icmp.PacketConn
	target netip.Addr
	every  time.Duration
	id     int
	stop   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	start   time.Time
	sent    int
	seen    map[int]bool // ICMP sequence numbers (16 bits) answered, forgotten when reused
	recv    int          // distinct replies
	last    time.Time
	maxGap  time.Duration
	stopped bool

	once sync.Once
	res  ProbeResult
}

// listenICMP opens a raw ICMP socket for target's family in namespace ns.
func listenICMP(ns string, target netip.Addr) (*icmp.PacketConn, error) {
	var c *icmp.PacketConn
	err := Do(ns, func() error {
		var err error
		if target.Is4() {
			c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		} else {
			c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns: icmp socket in %s: %w", ns, err)
	}
	return c, nil
}

// StartProber starts probing target from namespace ns every interval (10 ms
// for failover measurements). Stop it with [Prober.Stop].
func StartProber(ns string, target netip.Addr, every time.Duration) (*Prober, error) {
	c, err := listenICMP(ns, target)
	if err != nil {
		return nil, err
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	p := &Prober{
		conn: c, target: target, every: every,
		id:   int(binary.BigEndian.Uint16(idb[:])),
		stop: make(chan struct{}), seen: map[int]bool{},
		start: time.Now(),
	}
	p.last = p.start
	p.wg.Add(2)
	go p.send()
	go p.receive()
	return p, nil
}

func (p *Prober) echo(seq int) ([]byte, net.Addr) {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if p.target.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: []byte("hac-probe")}}
	b, _ := m.Marshal(nil) // never fails for an Echo body
	return b, &net.IPAddr{IP: p.target.AsSlice()}
}

func (p *Prober) send() {
	defer p.wg.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for seq := 0; ; seq++ {
		b, dst := p.echo(seq)
		p.mu.Lock()
		p.sent++
		delete(p.seen, seq&0xffff) // a probe that runs long reuses sequence numbers
		p.mu.Unlock()
		_, _ = p.conn.WriteTo(b, dst) // a failed send is a lost probe
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *Prober) receive() {
	defer p.wg.Done()
	proto := 1
	if p.target.Is6() {
		proto = 58
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return // closed by Stop
		}
		now := time.Now()
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if a, _ := netip.AddrFromSlice(ip.IP); a.Unmap() != p.target {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != p.id {
			continue
		}
		p.mu.Lock()
		if !p.stopped && !p.seen[e.Seq] {
			p.seen[e.Seq] = true
			p.recv++
			p.maxGap = max(p.maxGap, now.Sub(p.last))
			p.last = now
		}
		p.mu.Unlock()
	}
}

// Replies returns the number of distinct replies so far.
func (p *Prober) Replies() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recv
}

// Result returns the figures so far without stopping; Lost does not
// count the last probe sent (its reply may be in flight), MaxGap includes
// the current gap.
func (p *Prober) Result() ProbeResult {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProbeResult{Sent: p.sent, Received: p.recv, Lost: max(p.sent-p.recv-1, 0), MaxGap: max(p.maxGap, now.Sub(p.last))}
}

// Stop stops sending, waits a short grace period for replies in flight and
// returns the result. Stopping again returns the same result.
func (p *Prober) Stop() ProbeResult {
	p.once.Do(func() {
		close(p.stop)
		end := time.Now()
		time.Sleep(100 * time.Millisecond)
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		_ = p.conn.Close()
		p.wg.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.res = ProbeResult{Sent: p.sent, Received: p.recv, Lost: p.sent - p.recv, MaxGap: max(p.maxGap, end.Sub(p.last))}
	})
	return p.res
}

// Ping sends echo requests from namespace ns to target every 50 ms until
// one is answered or timeout passes, and reports whether one was.
func Ping(ns string, target netip.Addr, timeout time.Duration) (bool, error) {
	p, err := StartProber(ns, target, 50*time.Millisecond)
	if err != nil {
		return false, err
	}
	defer p.Stop()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Replies() > 0 {
			return true, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p.Replies() > 0, nil
}
