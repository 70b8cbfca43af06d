// Package vip puts virtual addresses on interfaces and takes them off, over
// rtnetlink, and watches the kernel's address and link events.
//
// Every VIP is added with a finite lifetime (IFA_CACHEINFO valid and
// preferred lifetimes, in whole seconds): the kernel-enforced VIP lease.
// The agent refreshes the lease while it is master, so when the agent is
// killed or hangs the address disappears by itself once the lease runs out,
// instead of staying on the node the way keepalived leaves it after SIGKILL.
package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// MinLease is the shortest lease the kernel can enforce: lifetimes are whole
// seconds.
const MinLease = time.Second

// LeaseFor returns the lease for an instance whose Master_Down_Interval is
// mdi: mdi rounded up to whole seconds, at least MinLease. A backup takes
// over about mdi after the master dies, and the dead master's VIP expires
// within the lease of its last refresh.
func LeaseFor(mdi time.Duration) time.Duration {
	l := max(mdi, MinLease)
	return (l + time.Second - 1).Truncate(time.Second)
}

// Address is an address on an interface as the kernel reports it.
type Address struct {
	Index  int
	Prefix netip.Prefix
	// Valid and Preferred are the remaining lifetimes; Forever when the
	// address has none.
	Valid, Preferred time.Duration
	Flags            uint32 // IFA_F_* flags
}

// Forever is the lifetime of a permanent address.
const Forever = time.Duration(1<<63 - 1)

// Manager adds, removes and lists addresses. It is safe for concurrent
// use.
type Manager struct {
	rt  *rtnetlink.Conn
	req *requester
	mu  sync.Mutex // serializes requests on req; guards what follows

	reqs   leaseRequests
	bodies [][]byte // the requests of one AddAll
	sent   []int    // the index in its leases of each request
}

// Dial opens the rtnetlink sockets in the calling thread's network
// namespace.
func Dial() (*Manager, error) {
	rt, err := rtnetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("vip: open rtnetlink: %w (the agent needs CAP_NET_ADMIN)", err)
	}
	req, err := dialRequester()
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("vip: open rtnetlink: %w", err)
	}
	return &Manager{rt: rt, req: req}, nil
}

// Close closes the sockets.
func (m *Manager) Close() error {
	m.mu.Lock() // after the request in flight, if any
	defer m.mu.Unlock()
	return errors.Join(m.rt.Close(), m.req.Close())
}

// message builds the ifaddrmsg for p on interface index.
func message(index int, p netip.Prefix) *rtnetlink.AddressMessage {
	a := p.Addr()
	family, scope := unix.AF_INET, unix.RT_SCOPE_UNIVERSE
	var flags uint32
	if a.Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	if a.IsLinkLocalUnicast() {
		scope = unix.RT_SCOPE_LINK
	}
	attrs := &rtnetlink.AddressAttributes{Address: a.AsSlice(), Local: a.AsSlice(), Flags: flags}
	if a.Is4() && p.Bits() < 31 {
		attrs.Broadcast = broadcast(p)
	}
	return &rtnetlink.AddressMessage{
		Family:       uint8(family),
		PrefixLength: uint8(p.Bits()),
		Scope:        uint8(scope),
		Index:        uint32(index),
		Attributes:   attrs,
	}
}

// broadcast returns the IPv4 broadcast address of p.
func broadcast(p netip.Prefix) net.IP {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

// Add puts p on interface index with a lease (rounded up to whole seconds,
// at least MinLease), or renews the lease when p is already there: it
// creates or replaces the address. IPv6 addresses get IFA_F_NODAD and a
// preferred lifetime of zero (deprecated, so the kernel never picks the VIP
// as a source address, like keepalived's /128 VIPs); IPv4 ones are
// preferred for the whole lease.
func (m *Manager) Add(index int, p netip.Prefix, lease time.Duration) error {
	if errs := m.AddAll([]Lease{{Index: index, Prefix: p, Lease: lease}}); errs != nil {
		return errs[0]
	}
	return nil
}

// Lease is an address to add or renew with [Manager.AddAll].
type Lease struct {
	Index  int
	Prefix netip.Prefix
	Lease  time.Duration
}

// AddAll does what [Manager.Add] does for every lease, in one netlink
// request (one system call for the lot, then one acknowledgement each).
// It returns nil when every lease was done, else one error per lease (nil
// for those done). Adding leases added before allocates nothing. (The
// agent renews its leases with [Renewals], which reads no answer back
// unless the kernel refused one.)
func (m *Manager) AddAll(ls []Lease) []error {
	m.mu.Lock() // the acknowledgements must reach this call
	defer m.mu.Unlock()
	var errs []error // made at the first failure
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(ls))
		}
		errs[i] = err
	}
	m.bodies, m.sent = m.bodies[:0], m.sent[:0]
	for i, l := range ls {
		b, err := m.reqs.body(l)
		if err != nil {
			fail(i, fmt.Errorf("vip: add %v: %w", l.Prefix, err))
			continue
		}
		m.bodies = append(m.bodies, b)
		m.sent = append(m.sent, i)
	}
	if len(m.bodies) == 0 {
		return errs
	}
	answers, err := m.req.exchange(netlink.HeaderType(unix.RTM_NEWADDR), netlink.Create|netlink.Replace, m.bodies)
	for n, i := range m.sent {
		e := err // the socket failed: the answers are unknown
		if e == nil {
			e = answers[n]
		}
		if e != nil {
			fail(i, fmt.Errorf("vip: add %v on interface %d: %w", ls[i].Prefix, ls[i].Index, e))
		}
	}
	return errs
}

// leaseRequests encodes the RTM_NEWADDR request that adds or renews a
// lease, once per lease: a master renews the same leases over and over,
// and encoding them anew at each renewal allocated. It is not safe for
// concurrent use.
type leaseRequests struct {
	encoded map[Lease][]byte
}

// maxEncoded bounds leaseRequests.encoded: far more leases than an agent
// asks for between two reloads.
const maxEncoded = 4096

// body returns the request of l (after the netlink header).
func (r *leaseRequests) body(l Lease) ([]byte, error) {
	if b, ok := r.encoded[l]; ok {
		return b, nil
	}
	b, err := message(l.Index, l.Prefix).MarshalBinary()
	if err != nil {
		return nil, err
	}
	valid := uint32(LeaseFor(l.Lease) / time.Second)
	preferred := valid
	if l.Prefix.Addr().Is6() {
		preferred = 0
	}
	ci := make([]byte, 16) // struct ifa_cacheinfo: prefered, valid, cstamp, tstamp
	binary.NativeEndian.PutUint32(ci[0:4], preferred)
	binary.NativeEndian.PutUint32(ci[4:8], valid)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_CACHEINFO, ci)
	extra, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	b = append(b, extra...)
	if r.encoded == nil || len(r.encoded) >= maxEncoded {
		r.encoded = map[Lease][]byte{}
	}
	r.encoded[l] = b
	return b, nil
}

// Remove takes p off interface index. An address that is not there is not
// an error.
func (m *Manager) Remove(index int, p netip.Prefix) error {
	err := m.rt.Address.Delete(message(index, p))
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("vip: remove %v from interface %d: %w", p, index, err)
	}
	return nil
}

// List returns the addresses on interface index (every interface when
// index is 0).
func (m *Manager) List(index int) ([]Address, error) {
	msgs, err := m.rt.Address.List()
	if err != nil {
		return nil, fmt.Errorf("vip: list addresses: %w", err)
	}
	var as []Address
	for i := range msgs {
		a, ok := fromMessage(&msgs[i])
		if ok && (index == 0 || a.Index == index) {
			as = append(as, a)
		}
	}
	return as, nil
}

// fromMessage converts a kernel address message.
func fromMessage(m *rtnetlink.AddressMessage) (Address, bool) {
	if m.Attributes == nil {
		return Address{}, false
	}
	ip := m.Attributes.Local
	if ip == nil {
		ip = m.Attributes.Address
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return Address{}, false
	}
	if m.Family == unix.AF_INET {
		a = a.Unmap()
	}
	life := func(s uint32) time.Duration {
		if s == 0xffffffff {
			return Forever
		}
		return time.Duration(s) * time.Second
	}
	flags := m.Attributes.Flags
	if flags == 0 {
		flags = uint32(m.Flags)
	}
	p := netip.PrefixFrom(a, int(m.PrefixLength))
	if !p.IsValid() {
		return Address{}, false
	}
	return Address{
		Index:     int(m.Index),
		Prefix:    p,
		Valid:     life(m.Attributes.CacheInfo.Valid),
		Preferred: life(m.Attributes.CacheInfo.Preferred),
		Flags:     flags,
	}, true
}

// Has reports whether interface index carries address a (any prefix
// length).
func (m *Manager) Has(index int, a netip.Addr) (bool, error) {
	as, err := m.List(index)
	if err != nil {
		return false, err
	}
	for _, x := range as {
		if x.Prefix.Addr() == a {
			return true, nil
		}
	}
	return false, nil
}

// Find returns the addresses on interface index that are among vips (same
// address, any prefix length), with their remaining lifetimes: what a
// previous run left behind. A finite lifetime means the address was added
// with a lease (by [Manager.Add]: a previous agent was master until
// moments ago); a permanent one was added by hand, by a network
// configuration, or by keepalived, which leaves its VIPs behind when
// killed.
func (m *Manager) Find(index int, vips []netip.Prefix) ([]Address, error) {
	as, err := m.List(index)
	if err != nil {
		return nil, err
	}
	var found []Address
	for _, a := range as {
		for _, v := range vips {
			if a.Prefix.Addr() == v.Addr() {
				found = append(found, a)
			}
		}
	}
	return found, nil
}

// Leased reports whether a carries a lease: a finite valid lifetime.
func (a Address) Leased() bool { return a.Valid != Forever }

// PromoteSecondaries sets net.ipv4.conf.<dev>.promote_secondaries to 1 in
// the calling thread's network namespace, as keepalived does on the
// interfaces it adds VIPs to. Without it, deleting an interface's primary
// IPv4 address deletes every secondary address of the same subnet: when
// the node's own address was removed and added again (after a VIP of its
// subnet became primary), removing the VIP later would delete the node's
// address too.
func PromoteSecondaries(dev string) error {
	if dev == "" || dev == "." || dev == ".." || strings.Contains(dev, "/") {
		return fmt.Errorf("vip: promote_secondaries: bad interface name %q", dev)
	}
	p := filepath.Join("/proc/sys/net/ipv4/conf", dev, "promote_secondaries")
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("vip: set %s: %w", p, err)
	}
	return nil
}

// LinkUp reports whether interface index is administratively up and has
// carrier (IFF_UP and IFF_LOWER_UP).
func (m *Manager) LinkUp(index int) (bool, error) {
	l, err := m.rt.Link.Get(uint32(index))
	if err != nil {
		return false, fmt.Errorf("vip: link %d: %w", index, err)
	}
	return linkUp(l.Flags), nil
}

func linkUp(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_LOWER_UP != 0
}
