package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/agent/vrrp"
)

// ErrReloadRefused is wrapped by [Agent.Reload] and [Agent.ReloadConfig]
// when the new configuration was refused: nothing was changed.
var ErrReloadRefused = errors.New("reload refused, the running configuration stays")

// reloader is the agent's reload state: one reload at a time, none before
// Run has started the instances nor once it is stopping, and what a reload
// needs of Run (starting readers and instances) and of setup (the
// announcers).
type reloader struct {
	mu      sync.Mutex
	ready   bool // Run started the instances
	stopped bool // Run is stopping
	goRead  func(c *sharedConn)
	goRun   func(in *instance)
	anns    map[string]Announcer
	annFams map[string][2]bool // IPv4, IPv6 per announcing device
}

func (r *reloader) start() {
	r.mu.Lock()
	r.ready = true
	r.mu.Unlock()
}

// stop waits for a running reload to end and refuses the next ones.
func (r *reloader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// list returns the running instances.
func (a *Agent) list() []*instance {
	a.topo.RLock()
	defer a.topo.RUnlock()
	return slices.Clone(a.instances)
}

// connList returns the open sockets.
func (a *Agent) connList() []*sharedConn {
	a.topo.RLock()
	defer a.topo.RUnlock()
	return slices.Clone(a.conns)
}

// lookup returns the instance of VRID id on this socket, or nil.
func (c *sharedConn) lookup(id uint8) *instance {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byID[id]
}

// identity is what tells the adverts of one VRRP instance from another's
// on a socket: the VRID and the version.
type identity struct {
	vrid    uint8
	version int
}

func identityOf(c *config.Instance) identity { return identity{vrid: c.VRID, version: c.Version} }

// A watcher is an instance that receives the adverts of another
// identity of itself on its socket (a VRID no instance of the agent
// claims, or the other version of its own VRID), checked against what
// that identity expects. A reload that changes an instance's VRID or
// version sets up two, so that the nodes of a cluster, reloaded one after
// the other, never run two masters (two holders of the VIPs) while some
// still speak the old identity and some the new one:
//
//   - the restarted instance watches its old identity: a peer still
//     master there is its master (it stays backup, as the peer's priority
//     and preemption say) and the peer's priority-0 advert when it hands
//     off makes it take over after Skew_Time (RFC 5798 section 6.4.2);
//   - the leaving instance watches the new identity while it drains: a
//     peer that took over there is the new master it waits for before it
//     drops its VIPs (make-before-break).
type watcher struct {
	in  *instance
	exp *vrrp.Expect
}

// watcher returns the watcher of identity id on this socket.
func (c *sharedConn) watcher(id identity) (watcher, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	w, ok := c.watch[id]
	return w, ok
}

// setWatch makes in receive the adverts of identity id, checked against
// exp.
func (c *sharedConn) setWatch(id identity, in *instance, exp vrrp.Expect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch == nil {
		c.watch = map[identity]watcher{}
	}
	c.watch[id] = watcher{in: in, exp: &exp}
}

// connOf returns the socket in uses.
func (a *Agent) connOf(in *instance) *sharedConn {
	for _, c := range a.connList() {
		if c.conn == in.adv.conn {
			return c
		}
	}
	return nil
}

// sameSocket reports whether instances configured as o and n use the same
// socket (interface, family, multicast or unicast, source): then each can
// hear the other's adverts.
func sameSocket(o, n *config.Instance) bool {
	return o.Interface == n.Interface && o.VIPs[0].Prefix.Addr().Is6() == n.VIPs[0].Prefix.Addr().Is6() &&
		o.Unicast == n.Unicast && o.Source == n.Source
}

// expectFor is what an instance configured as c, sending from src with
// VIPs addrs, accepts of a received advert.
func expectFor(c *config.Instance, src netip.Addr, addrs []netip.Addr) vrrp.Expect {
	e := vrrp.Expect{
		Version: c.Version, VRID: c.VRID, AdvertInt: time.Duration(c.AdvertInt), Addrs: addrs, Self: src,
		Unicast: c.Unicast, CheckSource: c.Unicast, Peers: c.Peers, // keepalived's unicast_peer check
	}
	if c.Version == 2 && c.Auth != nil {
		e.AuthType, e.Auth = vrrp.AuthPass, vrrp.PassAuth(c.Auth.Pass)
	}
	return e
}

// vipAddrs returns the VIP addresses of c, in config order.
func vipAddrs(c *config.Instance) []netip.Addr {
	as := make([]netip.Addr, len(c.VIPs))
	for i, v := range c.VIPs {
		as[i] = v.Prefix.Addr()
	}
	return as
}

// change is what a reload does with one instance.
type change int

const (
	keep        change = iota // nothing changed
	reconfigure               // changed in place: state, VIPs and timers kept
	restart                   // handed off and started again
	remove                    // handed off and stopped
	add                       // started
)

var changeNames = [...]string{keep: "kept", reconfigure: "reconfigured in place", restart: "restarted", remove: "removed", add: "added"}

// step is one instance's part of a reload: old and new are nil for an
// added and a removed instance; what lists the fields that changed.
type step struct {
	name     string
	old, new *config.Instance
	change   change
	what     []string
}

// String says what the reload does with the instance, e.g.
// "VI_1: restarted (vrid)".
func (s step) String() string {
	str := s.name + ": " + changeNames[s.change]
	if len(s.what) > 0 {
		str += " (" + strings.Join(s.what, ", ") + ")"
	}
	return str
}

// inPlace are the instance fields a running instance takes without a
// restart: they change what it advertises (priority, the VIP list) or
// decides next (preemption), or what it does around the protocol (GARP
// schedule, tracking, checks, notify commands). keepalived's reload takes
// the same ones without dropping the VIPs (it diffs the VIPs of a master:
// clear_diff_vrrp_vip). A VIP list of another family is a restart: the
// instance's socket is of the family.
var inPlace = []string{"Priority", "Preempt", "PreemptDelay", "GARP", "Track", "Checks", "Notify", "VIPs"}

// planReload compares two valid configurations instance by instance,
// matched by name, in the new file's order, then the removed ones. A field
// outside [inPlace] (VRID, interface, version, the VIPs' family, advert
// interval, auth, source, unicast peers) defines the instance on the
// wire: it changes by a restart. The advert
// interval is one of them: VRRPv2 receivers drop adverts of another
// interval (RFC 3768 section 7.1) and the lease and Master_Down_Interval
// derive from it.
func planReload(old, cur *config.Config) []step {
	byName := map[string]*config.Instance{}
	for i := range old.Instances {
		byName[old.Instances[i].Name] = &old.Instances[i]
	}
	var steps []step
	seen := map[string]bool{}
	for i := range cur.Instances {
		n := &cur.Instances[i]
		seen[n.Name] = true
		o := byName[n.Name]
		if o == nil {
			steps = append(steps, step{name: n.Name, new: n, change: add})
			continue
		}
		s := step{name: n.Name, old: o, new: n, change: keep}
		ov, nv := reflect.ValueOf(*o), reflect.ValueOf(*n)
		for f := range ov.NumField() {
			field := ov.Type().Field(f)
			if reflect.DeepEqual(ov.Field(f).Interface(), nv.Field(f).Interface()) {
				continue
			}
			name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
			s.what = append(s.what, name)
			familyChange := field.Name == "VIPs" && o.VIPs[0].Prefix.Addr().Is6() != n.VIPs[0].Prefix.Addr().Is6()
			if slices.Contains(inPlace, field.Name) && !familyChange {
				s.change = max(s.change, reconfigure)
			} else {
				s.change = restart
			}
		}
		steps = append(steps, s)
	}
	for i := range old.Instances {
		if o := &old.Instances[i]; !seen[o.Name] {
			steps = append(steps, step{name: o.Name, old: o, change: remove})
		}
	}
	return steps
}

// Reload re-reads the agent's configuration file (Options.ConfigPath)
// and runs it: see [Agent.ReloadConfig]. SIGHUP and the status socket's
// reload call it. Under systemd it tells systemd that it reloads (see
// [Agent.sdReloading]).
func (a *Agent) Reload() (done []string, err error) {
	end := a.sdReloading()
	defer func() { end(err) }()
	if a.opts.ConfigPath == "" {
		return nil, fmt.Errorf("%w: the agent runs without a configuration file to re-read", ErrReloadRefused)
	}
	cfg, raw, err := config.Load(a.opts.ConfigPath)
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrReloadRefused, err)
		a.log.Error(err.Error())
		return nil, err
	}
	return a.ReloadConfig(cfg, config.Digest(raw))
}

// ReloadConfig runs cfg instead of the running configuration without a gap:
// instances whose configuration did not change keep running untouched;
// changed ones are reconfigured in place (state, VIPs and timers kept)
// when only fields of [inPlace] changed, else handed off make-before-break
// and started again; removed ones hand off and stop; added ones start.
// Before anything changes cfg passes the start-up checks (the one
// [config.Config.Validate], then what it needs of the node); a refused
// configuration is logged in one line and returned as an error wrapping
// [ErrReloadRefused], and the running one stays. The node lock stays
// held. It returns what it did, one line per instance; the status report
// shows digest from then on.
func (a *Agent) ReloadConfig(cfg *config.Config, digest string) ([]string, error) {
	r := &a.reloader
	r.mu.Lock()
	defer r.mu.Unlock()
	refuse := func(err error) ([]string, error) {
		err = fmt.Errorf("%w: %w", ErrReloadRefused, err)
		a.log.Error(err.Error())
		return nil, err
	}
	switch {
	case r.stopped:
		return refuse(errors.New("the agent is stopping"))
	case !r.ready:
		return refuse(errors.New("the agent is still starting: try again"))
	}
	if err := checkConfig(cfg); err != nil {
		return refuse(err)
	}
	a.topo.RLock()
	old := a.cfg
	a.topo.RUnlock()
	if a.env.checkHost != nil {
		if err := checkNode(cfg, a.env.checkHost); err != nil {
			return refuse(err)
		}
	}
	// Last: a restart cures this refusal only when nothing else in cfg
	// would refuse it (hac apply then restarts the agent).
	if err := config.RestartOnly(old, cfg); err != nil {
		return refuse(&status.RestartOnlyError{Err: err})
	}
	steps := planReload(old, cfg)
	a.log.Info("reloading", "digest", digest)

	// What runs from now on, by name.
	running := map[string]*instance{}
	for _, in := range a.list() {
		running[in.cfg.Name] = in
	}
	var (
		failed []string
		leave  []*instance
		start  []step
	)
	for i, s := range steps {
		if running[s.name] == nil && s.change != add {
			// Not running: its start failed in an earlier reload.
			if s.change == remove {
				continue
			}
			s.change, s.what = add, nil
			steps[i] = s
		}
		switch s.change {
		case reconfigure:
			if err := a.reconfigure(running[s.name], s.new); err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", s.name, err))
			}
		case restart, remove:
			old := running[s.name]
			leave = append(leave, old)
			if s.change == restart && identityOf(s.new) != identityOf(s.old) && sameSocket(s.old, s.new) {
				if c := a.connOf(old); c != nil {
					c.setWatch(identityOf(s.new), old, expectFor(s.new, old.adv.src, vipAddrs(s.new)))
				}
			}
		}
		if s.change == restart || s.change == add {
			start = append(start, s)
		}
	}
	// Make-before-break: every leaving master hands off (in parallel) and
	// keeps its VIPs until the new master is heard; only then does the
	// restarted instance start, so it never meets its old self.
	a.leave(leave)
	a.topo.Lock()
	a.cfg, a.opts.ConfigDigest = cfg, digest
	a.topo.Unlock()
	for _, s := range start {
		in, err := a.startInstance(s.new)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s.name, err))
			continue
		}
		if s.change == restart && identityOf(s.new) != identityOf(s.old) && sameSocket(s.old, s.new) {
			if c := a.connOf(in); c != nil {
				c.setWatch(identityOf(s.old), in, expectFor(s.old, in.adv.src, vipAddrs(s.old)))
			}
		}
	}
	a.closeIdleConns()
	done := make([]string, len(steps))
	for i, s := range steps {
		done[i] = s.String()
	}
	a.log.Info("reloaded", "digest", digest, "instances", done)
	if len(failed) > 0 {
		err := fmt.Errorf("reload: %s", strings.Join(failed, "; "))
		a.log.Error(err.Error())
		return done, err
	}
	return done, nil
}

// reconfigure applies the in-place fields of c to a running instance on
// its goroutine. New or changed checks (and the checks, when the tracked
// interfaces change) run once first, here, so that the instance never
// waits for them and never claims a priority they did not confirm.
func (a *Agent) reconfigure(in *instance, c *config.Instance) error {
	var states []checkState
	rechecks := !reflect.DeepEqual(in.cfg.Checks, c.Checks) || !reflect.DeepEqual(in.cfg.Track, c.Track)
	if rechecks {
		states = in.checks.first(c.Checks)
	}
	anns := in.vips.anns // changed only by a reload
	if !reflect.DeepEqual(in.cfg.VIPs, c.VIPs) {
		var err error
		if anns, err = a.announcersFor(c, a.env.iface); err != nil {
			return err
		}
	}
	res := make(chan error, 1)
	in.post(func() { res <- in.reconfigure(c, rechecks, states, anns) })
	select {
	case err := <-res:
		return err
	case <-in.done:
		return errors.New("the instance stopped")
	}
}

// reconfigure is the instance goroutine's part of [Agent.reconfigure].
func (in *instance) reconfigure(c *config.Instance, rechecks bool, states []checkState, anns map[string]Announcer) error {
	if err := in.m.Reconfigure(in.fsmConfig(c)); err != nil {
		return err
	}
	now := in.clock.Now()
	if !reflect.DeepEqual(in.cfg.VIPs, c.VIPs) {
		if err := in.changeVIPs(c, anns); err != nil {
			return err
		}
	}
	// Only the in-place fields of the instance's config change (the
	// agent's config is replaced by the new one), and other goroutines
	// read only the name.
	in.cfg.Priority, in.cfg.Preempt, in.cfg.PreemptDelay = c.Priority, c.Preempt, c.PreemptDelay
	in.cfg.Notify = c.Notify
	if !reflect.DeepEqual(in.cfg.GARP, c.GARP) {
		// The new schedule applies from now: the next refresh is one new
		// refresh interval away (none when turned off).
		in.cfg.GARP = c.GARP
		in.garp.reconfigure(c.GARP, in.vips.held, now)
	}
	if rechecks {
		in.checks.halt()
		in.cfg.Track, in.cfg.Checks = c.Track, c.Checks
		in.prio.clearItems()
		in.setupTracks()
		in.startChecks(states)
	}
	in.vips.setLease(leaseOf(in.cfg), time.Duration(in.cfg.AdvertInt))
	in.applyPriority(now)
	in.publish()
	in.log.Info("reconfigured in place: state, VIPs and timers kept", "state", in.m.State().String(), "priority", in.m.Priority())
	return nil
}

// leaseOf is the VIP lease of an instance configured as c: its
// Master_Down_Interval, rounded up (vip.LeaseFor).
func leaseOf(c *config.Instance) time.Duration {
	return vip.LeaseFor(fsm.MasterDownInterval(c.Version, c.Priority, time.Duration(c.AdvertInt), fsm.DefaultDownAdverts))
}

// changeVIPs puts the VIPs of c in place of the running ones: a master
// adds and announces the new ones before it removes those that went (so
// an address that moves between devices is never missing), and
// advertises the new list from its next advert; a backup only takes the
// new list for its adverts and their check.
func (in *instance) changeVIPs(c *config.Instance, anns map[string]Announcer) error {
	old := in.vips.list
	if err := in.vips.set(c, in.a.env.iface, anns); err != nil {
		return err
	}
	in.cfg.VIPs = c.VIPs
	in.adv.setAddrs(in.vips.addrs)
	in.promote()
	for _, err := range in.vips.replace(old) {
		in.warn("garp", "cannot send gratuitous ARP/NA", "err", err)
	}
	return nil
}

// fsmConfig is the state machine's configuration for c on this
// instance's socket.
func (in *instance) fsmConfig(c *config.Instance) fsm.Config {
	return fsm.Config{
		Version:       c.Version,
		Priority:      c.Priority,
		AdvertInt:     time.Duration(c.AdvertInt),
		Preempt:       c.Preempt,
		PreemptDelay:  time.Duration(c.PreemptDelay),
		Primary:       in.adv.src,
		HandoffLinger: in.a.opts.HandoffLinger,
		AdvertGrid:    in.a.started,
		Synced:        inSyncGroup(in.a.cfg, c.Name),
	}
}

// leave stops the instances gracefully, in parallel (masters hand off
// make-before-break), and takes them off the agent and their sockets once
// they stopped.
func (a *Agent) leave(ins []*instance) {
	for _, in := range ins {
		in.post(in.shutdown)
	}
	for _, in := range ins {
		<-in.done
	}
	a.topo.Lock()
	defer a.topo.Unlock()
	for _, in := range ins {
		a.instances = slices.DeleteFunc(a.instances, func(x *instance) bool { return x == in })
		for _, c := range a.conns {
			c.mu.Lock()
			if c.byID[in.cfg.VRID] == in {
				delete(c.byID, in.cfg.VRID)
			}
			maps.DeleteFunc(c.watch, func(_ identity, w watcher) bool { return w.in == in })
			c.mu.Unlock()
		}
	}
}

// startInstance builds and starts an instance for c (added, or restarted
// after its old self left), with the interfaces, announcers and socket it
// needs, as setup does at start.
func (a *Agent) startInstance(c *config.Instance) (*instance, error) {
	c = clone(c)
	lookup := func(name string) (*net.Interface, error) {
		ifi, err := a.env.iface(name)
		if err != nil {
			return nil, fmt.Errorf("agent: interface %s: %w (is it named differently on this node?)", name, err)
		}
		return ifi, nil
	}
	anns, err := a.announcersFor(c, lookup)
	if err != nil {
		return nil, err
	}
	in, err := a.newInstance(c, lookup, anns)
	if err != nil {
		return nil, err
	}
	ifi, err := lookup(c.Interface)
	if err != nil {
		return nil, err
	}
	a.topo.Lock()
	defer a.topo.Unlock()
	n := len(a.conns)
	if err := a.attach(context.Background(), in, ifi); err != nil {
		return nil, err
	}
	// The socket's reader hands adverts to the instance as soon as it is
	// attached, and checks them with what initMachine sets: take it off
	// until then.
	var sc *sharedConn
	for _, x := range a.conns {
		if x.conn == in.adv.conn {
			sc = x
		}
	}
	sc.mu.Lock()
	delete(sc.byID, c.VRID)
	sc.mu.Unlock()
	if err := in.initMachine(); err != nil {
		return nil, err
	}
	sc.mu.Lock()
	sc.byID[c.VRID] = in
	sc.mu.Unlock()
	a.instances = append(a.instances, in)
	if len(a.conns) > n {
		a.reloader.goRead(a.conns[n])
	}
	a.reloader.goRun(in)
	return in, nil
}

// announcersFor returns the announcers by device for c: the open ones,
// and new ones for a device or family no instance announced on before.
func (a *Agent) announcersFor(c *config.Instance, lookup func(string) (*net.Interface, error)) (map[string]Announcer, error) {
	r := &a.reloader
	need := map[string][2]bool{}
	for _, v := range c.VIPs {
		d := v.Device
		if d == "" {
			d = c.Interface
		}
		f := need[d]
		if v.Prefix.Addr().Is4() {
			f[0] = true
		} else {
			f[1] = true
		}
		need[d] = f
	}
	anns := maps.Clone(r.anns)
	for _, d := range slices.Sorted(maps.Keys(need)) {
		have, ok := r.annFams[d]
		want := [2]bool{have[0] || need[d][0], have[1] || need[d][1]}
		if ok && want == have {
			continue
		}
		ifi, err := lookup(d)
		if err != nil {
			return nil, err
		}
		an, err := a.env.announce(ifi, want[0], want[1])
		if err != nil {
			return nil, err
		}
		if cl, ok := an.(interface{ Close() error }); ok {
			a.env.closers = append(a.env.closers, cl.Close)
		}
		anns[d] = an
		r.annFams[d] = want
	}
	r.anns = anns
	return anns, nil
}

// closeIdleConns closes the sockets no instance uses any more.
func (a *Agent) closeIdleConns() {
	a.topo.Lock()
	defer a.topo.Unlock()
	a.conns = slices.DeleteFunc(a.conns, func(c *sharedConn) bool {
		c.mu.RLock()
		idle := len(c.byID) == 0
		c.mu.RUnlock()
		if idle {
			c.conn.Close()
		}
		return idle
	})
}

// clone returns a deep copy of c: a running instance owns its config.
func clone(c *config.Instance) *config.Instance {
	n := *c
	n.Peers = slices.Clone(c.Peers)
	n.VIPs = slices.Clone(c.VIPs)
	n.Track = slices.Clone(c.Track)
	n.Checks = slices.Clone(c.Checks)
	return &n
}
