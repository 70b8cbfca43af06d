package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of events a [Watcher] delivers.
const (
	AddrAdded   EventKind = iota + 1 // an address appeared or was updated (RTM_NEWADDR)
	AddrRemoved                      // an address went away (RTM_DELADDR)
	Link                             // an interface changed or went away: see Event.Up
	// Resync: the kernel dropped events (ENOBUFS); re-read the state.
	Resync
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case AddrAdded:
		return "addr-added"
	case AddrRemoved:
		return "addr-removed"
	case Link:
		return "link"
	case Resync:
		return "resync"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one kernel notification.
type Event struct {
	Kind   EventKind
	Index  int          // interface index
	Prefix netip.Prefix // AddrAdded, AddrRemoved
	Up     bool         // Link: administratively up with carrier
}

// Watcher receives address and link events (RTNLGRP_LINK,
// RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR) in the namespace it was opened
// in.
type Watcher struct {
	c *netlink.Conn
}

// Watch subscribes to address and link events in the calling thread's
// network namespace.
func Watch() (*Watcher, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR,
	})
	if err != nil {
		return nil, fmt.Errorf("vip: watch rtnetlink events: %w", err)
	}
	return &Watcher{c: c}, nil
}

// IgnoreAdded stops the delivery of AddrAdded events: a socket filter
// makes the kernel drop them before they are queued, so an agent that
// renews its VIP leases (each renewal is an RTM_NEWADDR the kernel
// echoes to every listener) neither wakes up nor reads for its own
// renewals. Removals and link changes still arrive.
func (w *Watcher) IgnoreAdded() error {
	prog, err := bpf.Assemble(dropType(unix.RTM_NEWADDR))
	if err == nil {
		err = w.c.SetBPF(prog)
	}
	if err != nil {
		return fmt.Errorf("vip: filter rtnetlink events: %w", err)
	}
	return nil
}

// dropType is a socket filter that drops netlink datagrams whose (first)
// message is of type t: the kernel sends each address and link
// notification in a datagram of its own. nlmsg_type is in host byte order
// at offset 4; BPF loads are big-endian.
func dropType(t uint16) []bpf.Instruction {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], t)
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(binary.BigEndian.Uint16(b[:])), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffffffff}, // keep all of it
		bpf.RetConstant{Val: 0},          // drop
	}
}

// Close stops the watcher; a Next in progress returns an error.
func (w *Watcher) Close() error { return w.c.Close() }

// Next blocks until the kernel reports something and returns the events
// it reported. After ENOBUFS (events lost) it returns a single Resync
// event. It returns an error once the watcher is closed.
func (w *Watcher) Next() ([]Event, error) {
	msgs, err := w.c.Receive()
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return []Event{{Kind: Resync}}, nil
		}
		return nil, fmt.Errorf("vip: receive rtnetlink events: %w", err)
	}
	return decodeEvents(msgs), nil
}

// decodeEvents turns rtnetlink notifications into events, skipping what it
// does not understand.
func decodeEvents(msgs []netlink.Message) []Event {
	var evs []Event
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			var am rtnetlink.AddressMessage
			if am.UnmarshalBinary(m.Data) != nil {
				continue
			}
			a, ok := fromMessage(&am)
			if !ok {
				continue
			}
			k := AddrAdded
			if m.Header.Type == unix.RTM_DELADDR {
				k = AddrRemoved
			}
			evs = append(evs, Event{Kind: k, Index: a.Index, Prefix: a.Prefix})
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			var lm rtnetlink.LinkMessage
			if lm.UnmarshalBinary(m.Data) != nil {
				continue
			}
			up := m.Header.Type == unix.RTM_NEWLINK && linkUp(lm.Flags)
			evs = append(evs, Event{Kind: Link, Index: int(lm.Index), Up: up})
		}
	}
	return evs
}
