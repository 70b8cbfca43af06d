package lab

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
)

// ProbeEvery is how often the lab's probes ping a VIP.
const ProbeEvery = 10 * time.Millisecond

// Member is one node's view of an instance.
type Member struct {
	Node     string
	State    string // MASTER, BACKUP, FAULT, …; "down" when the agent does not answer
	Priority int    // effective priority, 0 when unknown
	Faults   []string
}

// Instance is one VRRP instance of a lab, as its agents report it.
type Instance struct {
	Name    string
	VIPs    []netip.Addr
	Members []Member // in node order
}

// Masters returns the nodes in MASTER state.
func (in Instance) Masters() []string {
	var ms []string
	for _, m := range in.Members {
		if m.State == "MASTER" {
			ms = append(ms, m.Node)
		}
	}
	return ms
}

// Master says who is master: a node name, "none", or "two masters: a, b".
func (in Instance) Master() string {
	switch ms := in.Masters(); len(ms) {
	case 0:
		return "none"
	case 1:
		return ms[0]
	default:
		return fmt.Sprintf("%d masters: %s", len(ms), strings.Join(ms, ", "))
	}
}

// Snapshot asks every node's agent for its state and returns the
// instances, in the order of the first node's agent.json.
func (s *State) Snapshot() ([]Instance, error) {
	var out []Instance
	index := map[string]int{}
	for _, n := range s.Nodes {
		cfg, err := s.AgentConfig(n)
		if err != nil {
			return nil, err
		}
		var rep *status.Report
		if alive(n.Agent) && !slices.Contains(n.Faults, HowFreeze) {
			rep, _ = query(s.Socket(n))
		}
		for _, ci := range cfg.Instances {
			i, ok := index[ci.Name]
			if !ok {
				i = len(out)
				index[ci.Name] = i
				in := Instance{Name: ci.Name}
				for _, v := range ci.VIPs {
					in.VIPs = append(in.VIPs, v.Prefix.Addr())
				}
				out = append(out, in)
			}
			m := Member{Node: n.Name, State: "down", Faults: n.Faults}
			if slices.Contains(n.Faults, HowFreeze) {
				m.State = "frozen"
			}
			if rep != nil {
				for _, ri := range rep.Instances {
					if ri.Name == ci.Name {
						m.State, m.Priority = ri.State, ri.Priority
					}
				}
			}
			out[i].Members = append(out[i].Members, m)
		}
	}
	return out, nil
}

// members formats an instance's members: "lb1 MASTER 200, lb2 BACKUP 100 [link]".
func members(in Instance) string {
	var parts []string
	for _, m := range in.Members {
		p := m.Node + " " + m.State
		if m.Priority > 0 {
			p += fmt.Sprintf(" %d", m.Priority)
		}
		if len(m.Faults) > 0 {
			p += " [" + strings.Join(m.Faults, " ") + "]"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// Status writes the lab's state: per instance its master, its VIPs and
// each node's state, priority and faults; for each VIP a probe of the
// given time (none when 0) and the running probe's loss so far.
func (s *State) Status(w io.Writer, probe time.Duration) error {
	ins, err := s.Snapshot()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "lab %s (%s) up since %s, state in %s\n", s.Cluster, strings.Join(s.Paths, " "), s.Started.Format(time.DateTime), s.Root)
	probes := map[netip.Addr]*netns.Prober{}
	if probe > 0 {
		for _, in := range ins {
			for _, v := range in.VIPs {
				if p, err := netns.StartProber(s.Layout.Namespaces()[0], v, ProbeEvery); err == nil {
					probes[v] = p
				} else {
					return err
				}
			}
		}
		time.Sleep(probe)
	}
	results := map[netip.Addr]netns.ProbeResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for v, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.Stop()
			mu.Lock()
			results[v] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	sofar := s.readProbe()
	for _, in := range ins {
		fmt.Fprintf(w, "%s: master %s; %s\n", in.Name, in.Master(), members(in))
		for _, v := range in.VIPs {
			var says []string
			if r, ok := results[v]; ok {
				says = append(says, verdict(r, probe))
			}
			if p, ok := sofar[v]; ok {
				if p.Since.IsZero() {
					says = append(says, "has not answered since the lab came up")
				} else {
					says = append(says, fmt.Sprintf("since it first answered at %s: %d of %d probes lost, longest gap %v",
						p.Since.Format("15:04:05"), p.Result.Lost, p.Result.Sent, p.Result.MaxGap.Round(time.Millisecond)))
				}
			}
			if len(says) > 0 {
				fmt.Fprintf(w, "  %s: %s\n", v, strings.Join(says, "; "))
			}
		}
	}
	return nil
}

// verdict says whether a VIP answered a probe.
func verdict(r netns.ProbeResult, d time.Duration) string {
	switch {
	case r.Received == 0:
		return fmt.Sprintf("no answer (%d probes in %v)", r.Sent, d)
	case r.Lost == 0:
		return fmt.Sprintf("answers (%d of %d probes, longest gap %v)", r.Received, r.Sent, r.MaxGap.Round(time.Millisecond))
	default:
		return fmt.Sprintf("answers, %d of %d probes lost, longest gap %v", r.Lost, r.Sent, r.MaxGap.Round(time.Millisecond))
	}
}

// Watch writes a live view until stop is closed: every refresh, a line per
// instance with its master, each node's state and, for each VIP, the
// probes lost and the longest gap between replies since the watch began.
// With clear, each view replaces the previous one (a terminal); without,
// a view is written when it changes.
func (s *State) Watch(w io.Writer, stop <-chan struct{}, refresh time.Duration, clear bool) error {
	ins, err := s.Snapshot()
	if err != nil {
		return err
	}
	probes := map[netip.Addr]*netns.Prober{}
	defer func() {
		for _, p := range probes {
			p.Stop()
		}
	}()
	for _, in := range ins {
		for _, v := range in.VIPs {
			p, err := netns.StartProber(s.Layout.Namespaces()[0], v, ProbeEvery)
			if err != nil {
				return err
			}
			probes[v] = p
		}
	}
	start := time.Now()
	last := ""
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		fresh, err := s.reload() // faults change under a watch
		if errors.Is(err, ErrNotUp) {
			fmt.Fprintf(w, "the lab at %s is down\n", s.Root)
			return nil
		}
		if err == nil {
			s = fresh
		}
		ins, err := s.Snapshot()
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, in := range ins {
			fmt.Fprintf(&b, "%-10s master %-8s", in.Name, in.Master())
			for _, v := range in.VIPs {
				r := probes[v].Result()
				fmt.Fprintf(&b, "  %s lost %d, longest gap %v", v, r.Lost, r.MaxGap.Round(time.Millisecond))
			}
			fmt.Fprintf(&b, "  | %s\n", members(in))
		}
		view := b.String()
		switch {
		case clear:
			fmt.Fprintf(w, "\033[H\033[2Jhac lab watch: %s, %v (probes every %v since the start; Ctrl-C ends)\n%s", s.Cluster, time.Since(start).Round(time.Second), ProbeEvery, view)
		case stateOnly(view) != stateOnly(last):
			fmt.Fprintf(w, "%s +%v\n%s", time.Now().Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), view)
		}
		last = view
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
	}
}

// stateOnly drops the probe figures from a view, so a view without a
// terminal is written only when a state changes.
func stateOnly(view string) string {
	var lines []string
	for _, l := range strings.Split(view, "\n") {
		if i := strings.Index(l, " | "); i >= 0 {
			l = strings.Fields(l)[0] + l[i:]
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// reload reads the state again.
func (s *State) reload() (*State, error) { return Load(s.Root) }
