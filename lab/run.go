package lab

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hac-project/hac/internal/netns"
)

// Step is one step of the failover script and what the probe of the VIP
// saw while it ran (from the step's start until a settle time after its
// outcome was seen).
type Step struct {
	Instance string
	What     string // what was done and what is expected
	OK       bool
	Got      string // what was seen, when not OK
	Probe    netns.ProbeResult
}

// String formats the step as the script prints it.
func (st Step) String() string {
	verdict := "ok"
	if !st.OK {
		verdict = "FAILED: " + st.Got
	}
	return fmt.Sprintf("%-44s lost %4d of %4d probes, longest gap %7v  %s",
		st.What, st.Probe.Lost, st.Probe.Sent, st.Probe.MaxGap.Round(time.Millisecond), verdict)
}

// settle is how long a step goes on probing once its outcome is seen,
// and the window in which "nothing answers" must hold.
const settle = time.Second

// stepTimeout bounds how long a step waits for its outcome.
const stepTimeout = 30 * time.Second

// Script runs the seed's failover test on a lab that is up, for each
// instance in turn: the VIP answers with the preferred master; the master
// fails (how: one of [Hows]) and the next node by priority answers; every
// other node fails too and nothing answers; the master heals and answers
// again; the others heal. A probe pings the VIP from the client every
// [ProbeEvery] through each step. Each step is written to w as it ends.
// It returns the steps and an error when one did not go as expected.
func Script(root, how string, w io.Writer) ([]Step, error) {
	if !slices.Contains(Hows, how) {
		return nil, argErrorf("lab: --how %q: use one of %s", how, strings.Join(Hows, ", "))
	}
	s, err := Load(root)
	if err != nil {
		return nil, err
	}
	ins, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	var steps []Step
	var failed []string
	for _, in := range ins {
		order, err := s.priorityOrder(in.Name)
		if err != nil {
			return steps, err
		}
		if len(order) < 2 || len(in.VIPs) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: VIP %s, nodes by priority %s; --how %s: %s; a probe every %v\n", in.Name, in.VIPs[0], strings.Join(order, " > "), how, describe(how), ProbeEvery)
		master, backup, rest := order[0], order[1], order[1:]
		plan := []struct {
			what   string
			do     func() error
			want   func(Instance) bool
			silent bool // nothing must answer
		}{
			{what: fmt.Sprintf("agents start: %s answers", master), want: masterIs(master)},
			{what: fmt.Sprintf("fail %s (%s): %s answers", master, how, backup),
				do: func() error { _, err := Fail(root, master, how, ""); return err }, want: masterIs(backup)},
			{what: fmt.Sprintf("fail %s too: nothing answers", strings.Join(rest, ", ")),
				do: func() error {
					for _, n := range rest {
						if _, err := Fail(root, n, how, ""); err != nil {
							return err
						}
					}
					return nil
				}, want: masterIs(""), silent: true},
			{what: fmt.Sprintf("heal %s: it answers again", master),
				do: func() error { _, err := Heal(root, master); return err }, want: masterIs(master)},
			{what: fmt.Sprintf("heal %s: %s stays master", strings.Join(rest, ", "), master),
				do: func() error {
					for _, n := range rest {
						if _, err := Heal(root, n); err != nil {
							return err
						}
					}
					return nil
				}, want: masterIs(master)},
		}
		for i, p := range plan {
			st, err := s.step(in, p.do, p.want, p.silent)
			st.Instance, st.What = in.Name, fmt.Sprintf("  %d. %s", i+1, p.what)
			steps = append(steps, st)
			fmt.Fprintln(w, st)
			if err != nil {
				return steps, err
			}
			if !st.OK {
				failed = append(failed, in.Name+": "+p.what)
			}
		}
	}
	if len(failed) > 0 {
		return steps, fmt.Errorf("lab: failover did not go as expected: %s", strings.Join(failed, "; "))
	}
	return steps, nil
}

// masterIs wants node to be the only master ("": no master at all).
func masterIs(node string) func(Instance) bool {
	return func(in Instance) bool {
		ms := in.Masters()
		if node == "" {
			return len(ms) == 0
		}
		return len(ms) == 1 && ms[0] == node
	}
}

// step probes the instance's first VIP, does what the step does and waits
// (at most stepTimeout) until want holds and the VIP answers (or, when
// silent, stays silent for a whole settle window), probing on for settle.
func (s *State) step(in Instance, do func() error, want func(Instance) bool, silent bool) (st Step, err error) {
	p, err := netns.StartProber(s.Layout.Namespaces()[0], in.VIPs[0], ProbeEvery)
	if err != nil {
		return st, err
	}
	start := time.Now()
	defer func() { st.Probe = p.Stop() }()
	if do != nil {
		if err := do(); err != nil {
			return st, err
		}
	}
	base := p.Replies()
	deadline := start.Add(stepTimeout)
	var got Instance
	for time.Now().Before(deadline) {
		fresh, err := Load(s.Root)
		if err != nil {
			return st, err
		}
		ins, err := fresh.Snapshot()
		if err != nil {
			return st, err
		}
		for _, i := range ins {
			if i.Name == in.Name {
				got = i
			}
		}
		if !want(got) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if silent {
			before := p.Replies()
			time.Sleep(settle)
			if p.Replies() == before {
				st.OK = true
				return st, nil
			}
			continue
		}
		if p.Replies() > base {
			time.Sleep(settle)
			st.OK = true
			return st, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.Got = fmt.Sprintf("after %v: master %s (%s), %d replies", stepTimeout, got.Master(), members(got), p.Replies()-base)
	return st, nil
}

// priorityOrder returns the instance's nodes by configured priority,
// highest first.
func (s *State) priorityOrder(instance string) ([]string, error) {
	type np struct {
		node string
		prio uint8
	}
	var nps []np
	for _, n := range s.Nodes {
		cfg, err := s.AgentConfig(n)
		if err != nil {
			return nil, err
		}
		for _, in := range cfg.Instances {
			if in.Name == instance {
				nps = append(nps, np{n.Name, in.Priority})
			}
		}
	}
	slices.SortStableFunc(nps, func(a, b np) int { return int(b.prio) - int(a.prio) })
	var out []string
	for _, x := range nps {
		out = append(out, x.node)
	}
	return out, nil
}

// Run brings a lab up for sp, runs [Script] on it and brings it down,
// whatever happened.
func Run(sp Spec, how string, w io.Writer) (_ []Step, err error) {
	if !slices.Contains(Hows, how) {
		return nil, argErrorf("lab: --how %q: use one of %s", how, strings.Join(Hows, ", "))
	}
	if _, err := Up(sp); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, Down(sp.Root)) }()
	return Script(sp.Root, how, w)
}
