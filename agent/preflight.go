package agent

import (
	"errors"
	"fmt"
	"net"
	"os/user"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/rundir"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
)

// preflight is everything the agent checks before it touches the node, in
// this order: the whole configuration ([config.Config.Validate]), the
// status socket's directory, the node lock (one agent per network
// namespace, held until Run returns), and what the configuration needs of
// the node ([hostProblems]). It only reads, except for creating the
// runtime directories and the lock file. On success the caller owns the
// lock.
func preflight(cfg *config.Config, opts Options) (*rundir.Lock, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	if p := (&Agent{cfg: cfg, opts: opts}).statusPath(); p != "" {
		if err := status.CheckPath(p); err != nil {
			return nil, fmt.Errorf("%w; nothing was changed", err)
		}
	}
	lock, err := rundir.Acquire(rundir.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkNode(cfg, checkHost); err != nil {
		lock.Release()
		return nil, err
	}
	return lock, nil
}

// checkConfig is the check of the file alone, at start and before a
// reload: [config.Config.Validate], every problem at once.
func checkConfig(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("agent config is invalid, nothing was changed:\n%w", err)
	}
	return nil
}

// checkNode is the check of cfg against the node (check is [checkHost]
// but in tests), at start and before a reload.
func checkNode(cfg *config.Config, check func(*config.Config) error) error {
	if err := check(cfg); err != nil {
		return fmt.Errorf("agent config does not fit this node, nothing was changed:\n%w", err)
	}
	return nil
}

// checkHost reads the node's interfaces and addresses and checks cfg
// against them.
func checkHost(cfg *config.Config) error {
	ifis, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	m, err := vip.Dial()
	if err != nil {
		return err
	}
	defer m.Close()
	addrs, err := m.List(0)
	if err != nil {
		return err
	}
	return hostProblems(cfg, ifis, addrs, func(name string) error {
		_, err := user.Lookup(name)
		return err
	})
}

// hostProblems says what in cfg does not fit a node with interfaces ifis
// and addresses addrs, as [config.Problem]s: an interface or VIP device
// that does not exist, a VIP that is already a permanent address of the
// node (a node address, a static alias, or a VIP a killed keepalived left:
// the agent would remove it whenever it is not master; VIPs the agent adds
// always carry a lease, so a leased one is the agent's own), a check user
// that does not exist.
func hostProblems(cfg *config.Config, ifis []net.Interface, addrs []vip.Address, lookupUser func(string) error) error {
	names := map[int]string{}
	exists := map[string]bool{}
	for _, ifi := range ifis {
		names[ifi.Index] = ifi.Name
		exists[ifi.Name] = true
	}
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &config.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for i := range cfg.Instances {
		in := &cfg.Instances[i]
		at := fmt.Sprintf("instances[%d]", i)
		if !exists[in.Interface] {
			bad(at+".interface", "%s does not exist on this node: create it, or fix the interface name (nodes.<n>.interface)", in.Interface)
		}
		for j, v := range in.VIPs {
			vat := fmt.Sprintf("%s.vips[%d]", at, j)
			if v.Device != "" && !exists[v.Device] {
				bad(vat+".device", "%s does not exist on this node: create it, or fix the VIP's device", v.Device)
			}
			for _, a := range addrs {
				if a.Prefix.Addr() != v.Prefix.Addr() || a.Valid != vip.Forever {
					continue
				}
				dev := names[a.Index]
				bad(vat+".prefix", "%v is already an address of %s on this node (permanent), not one the agent added: a VIP must be an address no node has, "+
					"and the agent would remove it whenever it is not master. If it is a static VIP (an %s:0 alias, a netplan address) or one a killed keepalived left, "+
					"remove it from the network configuration and from the interface (ip addr del %v dev %s); if it is the node's address, choose another VIP",
					v.Prefix.Addr(), dev, dev, a.Prefix, dev)
			}
		}
		for j, c := range in.Checks {
			if c.User == "" {
				continue
			}
			if err := lookupUser(c.User); err != nil {
				bad(fmt.Sprintf("%s.checks[%d].user", at, j), "%q: %v: create the user on this node or change the check's user", c.User, err)
			}
		}
	}
	return errors.Join(errs...)
}
