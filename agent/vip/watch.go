package vip

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
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
