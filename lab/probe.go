package lab

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hac-project/hac/internal/netns"
)

// VIPProbe is what the lab's running probe saw of one VIP since it first
// answered.
type VIPProbe struct {
	VIP    netip.Addr        `json:"vip"`
	Since  time.Time         `json:"since,omitzero"` // when the VIP first answered; zero: not yet
	Result netns.ProbeResult `json:"result"`
}

// probeFile is where the running probe writes its figures.
func (s *State) probeFile() string { return filepath.Join(s.Root, "probe.json") }

// vips returns every VIP of the lab, in agent.json order, once each.
func (s *State) vips() ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, n := range s.Nodes {
		cfg, err := s.AgentConfig(n)
		if err != nil {
			return nil, err
		}
		for _, in := range cfg.Instances {
			for _, v := range in.VIPs {
				if a := v.Prefix.Addr(); !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out, nil
}

// RunProbe probes every VIP of the lab at root from its client namespace
// every [ProbeEvery], counting from the moment each VIP first answers, and
// writes the figures to ROOT/probe.json every 100 ms until stop is closed.
// hac lab up runs it in the client namespace (hac lab probe), so hac lab
// down kills it with the rest.
func RunProbe(root string, stop <-chan struct{}) error {
	s, err := Load(root)
	if err != nil {
		return err
	}
	vips, err := s.vips()
	if err != nil {
		return err
	}
	client := s.Layout.Namespaces()[0]
	var mu sync.Mutex
	probes := make([]*netns.Prober, len(vips))
	since := make([]time.Time, len(vips))
	errc := make(chan error, len(vips))
	for i, v := range vips {
		go func() {
			for {
				ok, err := netns.Ping(client, v, time.Second)
				if err != nil {
					errc <- err
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				if ok {
					break
				}
			}
			p, err := netns.StartProber(client, v, ProbeEvery)
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			probes[i], since[i] = p, time.Now()
			mu.Unlock()
		}()
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range probes {
			if p != nil {
				p.Stop()
			}
		}
	}()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case err := <-errc:
			return err
		case <-t.C:
		}
		out := make([]VIPProbe, len(vips))
		mu.Lock()
		for i, v := range vips {
			out[i] = VIPProbe{VIP: v, Since: since[i]}
			if probes[i] != nil {
				out[i].Result = probes[i].Result()
			}
		}
		mu.Unlock()
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		tmp := s.probeFile() + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return failf("lab: probe: %w", err)
		}
		if err := os.Rename(tmp, s.probeFile()); err != nil {
			return failf("lab: probe: %w", err)
		}
	}
}

// readProbe returns the running probe's latest figures by VIP (none when
// it has not written any yet).
func (s *State) readProbe() map[netip.Addr]VIPProbe {
	b, err := os.ReadFile(s.probeFile())
	if err != nil {
		return nil
	}
	var ps []VIPProbe
	if json.Unmarshal(b, &ps) != nil {
		return nil
	}
	out := map[netip.Addr]VIPProbe{}
	for _, p := range ps {
		out[p.VIP] = p
	}
	return out
}

// startProbe starts hac lab probe in the client namespace, detached, its
// output in ROOT/probe.log.
func (s *State) startProbe() error {
	log, err := os.OpenFile(filepath.Join(s.Root, "probe.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return failf("lab: %w", err)
	}
	defer log.Close()
	cmd := netns.Command(s.Layout.Namespaces()[0], s.Hac, "lab", "probe", "--root", s.Root)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return failf("lab: start the probe: %w", err)
	}
	go cmd.Wait() // reaps it when this process outlives it
	start, err := procStart(cmd.Process.Pid)
	if err != nil {
		return failf("lab: the probe exited at once: see %s", filepath.Join(s.Root, "probe.log"))
	}
	s.Probe = Proc{PID: cmd.Process.Pid, Start: start}
	return nil
}
