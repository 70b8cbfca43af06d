// Package status is what a running hac agent says about itself: the
// report served on its unix socket, printed by hac-agent status, and read
// by hac apply and hac status to verify a node.
package status

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Report is one agent's state. Its JSON form is what
// `hac-agent status --format json` prints.
type Report struct {
	Cluster      string     `json:"cluster"`
	Node         string     `json:"node"`
	ConfigDigest string     `json:"config_digest,omitempty"` // see [config.Digest]
	Version      string     `json:"version"`                 // hac version of the agent
	Started      time.Time  `json:"started"`
	Instances    []Instance `json:"instances"`
	// Drops counts received packets no instance claims (an unknown VRID),
	// by reason.
	Drops map[string]uint64 `json:"drops,omitempty"`
	// SyncGroups are the node's sync groups (instances that fail over
	// together) with the group's state.
	SyncGroups []SyncGroup `json:"sync_groups,omitempty"`
}

// SyncGroup is a sync group's state: INIT, BACKUP, MASTER, FAULT (a
// member has a fault of its own, so every member is in FAULT) or STOPPED.
type SyncGroup struct {
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Instances []string `json:"instances"`
}

// Instance is one VRRP instance's state.
type Instance struct {
	Name      string `json:"name"`
	VRID      uint8  `json:"vrid"`
	Interface string `json:"interface"`
	// State is INIT, BACKUP, MASTER, FAULT, DRAINING (a stopping master
	// keeping its VIPs until the new master is heard) or STOPPED.
	State string `json:"state"`
	// Priority is the effective priority (after tracking weights);
	// BasePriority the configured one.
	Priority     int `json:"priority"`
	BasePriority int `json:"base_priority"`
	// Master is the address of the current master as this node sees it:
	// its own source address when it is master, invalid when unknown.
	Master netip.Addr `json:"master,omitzero"`
	// AdvertMillis is the instance's configured advert interval: how
	// long its handoff may last (election.HandoffTime), which is what a
	// reload waits for.
	AdvertMillis int64 `json:"advert_int_ms"`
	// LastAdvert is the age of the last valid advert received, -1 when none.
	LastAdvertMillis int64 `json:"last_advert_ms"`
	// VIPs are the virtual addresses this node holds right now.
	VIPs     []netip.Prefix `json:"vips"`
	Since    time.Time      `json:"since"` // when the current state was entered
	Reason   string         `json:"reason,omitempty"`
	Counters Counters       `json:"counters"`
	// Tracks are the tracked interfaces (Up: link up) and Checks the
	// health checks, each with its weight: see docs/agent.md.
	Tracks []Item `json:"tracks,omitempty"`
	Checks []Item `json:"checks,omitempty"`
}

// Item is a tracked interface or a health check and its current state.
type Item struct {
	Name   string `json:"name"`
	Up     bool   `json:"up"`
	Weight int    `json:"weight"`
	// Results counts a health check's runs by result: "ok", "failed"
	// (non-zero exit, or the program could not start) or "timeout"
	// (killed after its timeout). RunSeconds is the time they took in
	// all. Both are empty for a tracked interface.
	Results    map[string]uint64 `json:"results,omitempty"`
	RunSeconds float64           `json:"run_seconds,omitempty"`
}

// The results of a health-check run, as counted in [Item.Results].
const (
	CheckOK      = "ok"
	CheckFailed  = "failed"
	CheckTimeout = "timeout"
)

// Counters count what an instance did and what it dropped.
type Counters struct {
	AdvertsSent     uint64 `json:"adverts_sent"`
	AdvertsReceived uint64 `json:"adverts_received"`
	// Drops counts discarded packets by reason (e.g. "ttl", "auth",
	// "checksum", "version", "interval", "length", "addr_count").
	Drops map[string]uint64 `json:"drops"`
	// VIPMismatch counts adverts whose VIP list differs from ours (obeyed).
	VIPMismatch uint64 `json:"vip_mismatch"`
	Transitions uint64 `json:"transitions"`
	// TransitionReasons counts the transitions by reason (the fsm's
	// Reason constants: "init", "master_down_timer", "link_down", ...).
	TransitionReasons map[string]uint64 `json:"transition_reasons,omitempty"`
	// MasterChanges counts the times the master this node sees changed
	// to another address (the first one seen included; itself when it
	// becomes master).
	MasterChanges uint64 `json:"master_changes"`
	// LeaseRenewals counts renewals of the VIPs' lease while master.
	LeaseRenewals uint64 `json:"lease_renewals"`
	// VIPRestored counts VIPs put back after something else removed them.
	VIPRestored uint64 `json:"vip_restored"`
	// SendErrors counts adverts that could not be sent (each puts the
	// instance in FAULT until sending works again).
	SendErrors uint64 `json:"send_errors"`
}

// maxListed is how many instances [Report.Summary] names one by one.
const maxListed = 4

// Summary is the report in one line, for systemd's STATUS= (systemctl
// status): each instance and its state ("VI_1 MASTER, VI_2 BACKUP"), or,
// beyond four instances, how many are in each state ("100 instances: 50
// MASTER, 50 BACKUP").
func (r *Report) Summary() string {
	if len(r.Instances) <= maxListed {
		s := make([]string, len(r.Instances))
		for i, in := range r.Instances {
			s[i] = in.Name + " " + in.State
		}
		return strings.Join(s, ", ")
	}
	count := map[string]int{}
	var order []string
	for _, in := range r.Instances {
		if count[in.State] == 0 {
			order = append(order, in.State)
		}
		count[in.State]++
	}
	slices.Sort(order)
	s := make([]string, len(order))
	for i, st := range order {
		s[i] = fmt.Sprintf("%d %s", count[st], st)
	}
	return fmt.Sprintf("%d instances: %s", len(r.Instances), strings.Join(s, ", "))
}
