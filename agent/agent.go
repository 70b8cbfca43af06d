// Package agent is hac's VRRP daemon: it runs the instances of an
// agent.json (package config) on one node, wire-compatible with keepalived
// 2.2.7. It owns the sockets (package netio), the VIPs (package vip), the
// gratuitous ARP/NA (package announce) and the timers, and drives one
// state machine (package fsm) per instance in its own goroutine, so
// instances on the same node keep independent timers (active-active).
//
// Beyond keepalived it does a make-before-break handoff on graceful stop
// (the VIPs stay until the new master is heard), adds VIPs with a
// kernel-enforced lease that it renews while master (a killed agent's VIPs
// expire by themselves), resumes as master when it finds its VIPs still
// leased at start (a crash restart) and refuses to start beside a
// permanent copy of one of its VIPs (a static alias, a VIP a killed
// keepalived left: see hostProblems), puts back VIPs something else removed, gives the VIPs up
// (FAULT) while its adverts cannot be sent, and rate-limits its answers
// to lower-priority adverts.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/announce"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/sdnotify"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/timerfd"
	"github.com/hac-project/hac/agent/vip"
)

// DefaultHandoffLinger is how long a node handing off mastership keeps its
// VIPs after it heard the new master's first advert: the time for the new
// master to add the VIPs and for its gratuitous ARPs to reach the clients.
const DefaultHandoffLinger = 200 * time.Millisecond

// Options are the agent's settings that are not in agent.json.
type Options struct {
	// Logger receives structured logs; nil: slog.Default().
	Logger *slog.Logger
	// Clock is the time source; nil: SystemClock, except in New, where
	// it is a timerfd (package timerfd), the clock of an idle agent that
	// wakes one thread per timer.
	Clock Clock
	// Version is the hac version the status report shows.
	Version string
	// ConfigDigest is the digest of agent.json (config.Digest) the status
	// report shows.
	ConfigDigest string
	// StatusSocket overrides the config's status_socket; "-" serves no
	// socket.
	StatusSocket string
	// HandoffLinger overrides DefaultHandoffLinger when positive.
	HandoffLinger time.Duration
	// Takeover starts every instance taking over, as after [Agent.Takeover]
	// (until released): with a VIP still leased on the interface it
	// resumes as master at TakeoverPriority at once.
	Takeover bool
	// ConfigPath is the agent.json [Agent.Reload] re-reads (SIGHUP,
	// hac-agent reload); empty: reloading is refused.
	ConfigPath string
	// LogFormat and LogLevel are the agent's --log-format and
	// --log-level, which its metrics exporter (hac-metrics) logs with too;
	// empty: its defaults.
	LogFormat, LogLevel string
}

// TakeoverFile is where hac apply asks the agent to start taking over:
// when it exists at start, the agent runs as with Options.Takeover.
const TakeoverFile = "/var/lib/hac/takeover"

// AddrManager is what the agent needs of [vip.Manager].
type AddrManager interface {
	Add(index int, p netip.Prefix, lease time.Duration) error
	Remove(index int, p netip.Prefix) error
	Has(index int, a netip.Addr) (bool, error)
	Find(index int, vips []netip.Prefix) ([]vip.Address, error)
	LinkUp(index int) (bool, error)
}

// Announcer is what the agent needs of [announce.Announcer].
type Announcer interface {
	Announce(addrs []netip.Addr) error
}

// env is the agent's access to the system; tests replace it.
type env struct {
	iface    func(name string) (*net.Interface, error)
	addrs    AddrManager
	renewals leaseRenewals
	events   func(ctx context.Context, fn func([]vip.Event)) error // blocks until ctx ends
	listen   func(ctx context.Context, cfg netio.Config) (netio.Conn, error)
	announce func(ifi *net.Interface, v4, v6 bool) (Announcer, error)
	// promote sets promote_secondaries on a device that gets IPv4 VIPs
	// (vip.PromoteSecondaries); nil: not done.
	promote func(dev string) error
	// run runs a check or notify command: see [runCommand].
	run     func(ctx context.Context, argv []string, user string, timeout time.Duration) error
	closers []func() error

	// notify sends a notification to systemd (package sdnotify); nil:
	// not run by systemd. watchdog is the unit's WatchdogSec; 0: none.
	notify   func(state string) error
	watchdog time.Duration
	// checkHost checks a configuration against the node before a reload
	// ([checkHost]); nil: not checked.
	checkHost func(cfg *config.Config) error
}

// Agent runs the VRRP instances of one node.
type Agent struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	clock   Clock
	env     *env
	started time.Time

	instances []*instance
	conns     []*sharedConn
	metrics   *exporter // agent.metrics, its socket opened by New; nil: none
	groups    []*syncGroup
	renewals  *renewer

	mu    sync.Mutex
	drops map[string]uint64 // packets no instance claims

	// topo guards what a reload changes while other goroutines read it:
	// cfg, instances, conns, opts.ConfigDigest; each conn's byID has its
	// own lock.
	topo     sync.RWMutex
	reloader reloader

	notifying sync.WaitGroup // notify commands running
	changed   chan struct{}  // an instance changed state: tell systemd
	sd        sdState        // what systemd was told

	takeovers takeovers
}

// takeovers is the agent's takeover state by instance name
// ([Agent.Takeover], Options.Takeover): an instance a reload starts
// (restarted or added) takes it on, so that a restart neither ends a
// takeover nor starts one again after its release.
type takeovers struct {
	mu  sync.Mutex
	all bool            // every instance takes over, unless by says otherwise
	by  map[string]bool // per instance, after a takeover of named instances
}

// set records a takeover (on) or its release of the named instances, or
// of all when names is nil.
func (t *takeovers) set(names []string, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if names == nil {
		t.all, t.by = on, nil
		return
	}
	if t.by == nil {
		t.by = map[string]bool{}
	}
	for _, n := range names {
		t.by[n] = on
	}
}

// of reports whether the named instance takes over.
func (t *takeovers) of(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on, ok := t.by[name]; ok {
		return on
	}
	return t.all
}

// New checks cfg, the node, the status socket's directory and the
// metrics exporter (hac-metrics, when agent.metrics is set), takes the
// node lock (package rundir), opens the metrics socket and reads systemd's notify socket and watchdog from the environment
// (package sdnotify), and returns an agent that uses the system's network
// stack in the calling thread's network namespace (Run opens the
// sockets). It changes nothing on the node when it fails.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	lock, err := preflight(cfg, opts)
	if err != nil {
		return nil, err
	}
	// What New opens, closed in reverse order when it fails, or when Run
	// ends: the node lock last.
	closers := []func() error{lock.Release}
	fail := func(err error) (*Agent, error) {
		closeAll(closers)
		return nil, err
	}
	// The metrics socket is the last check: a port in use refuses the
	// start before anything is touched.
	var exp *exporter
	if cfg.Metrics != "" {
		if exp, err = newExporter(cfg, opts); err == nil {
			exp.socket, err = listenMetrics(cfg.Metrics)
		}
		if err != nil {
			return fail(fmt.Errorf("%w; nothing was changed", err))
		}
		closers = append(closers, exp.socket.Close) // before the lock goes: the next agent binds it
	}
	sd, wd, err := sdnotify.FromEnv()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, sd.Close)
	m, err := vip.Dial()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, m.Close)
	rn, err := vip.DialRenewals()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, rn.Close)
	if opts.Clock == nil {
		c, err := timerfd.New()
		if err != nil {
			return fail(err)
		}
		opts.Clock = fdClock{c}
		closers = append(closers, c.Close)
	}
	e := &env{
		iface:    net.InterfaceByName,
		addrs:    m,
		renewals: rn,
		events: func(ctx context.Context, fn func([]vip.Event)) error {
			return watch(ctx, fn)
		},
		listen: func(ctx context.Context, c netio.Config) (netio.Conn, error) {
			return netio.Listen(ctx, c)
		},
		announce: func(ifi *net.Interface, v4, v6 bool) (Announcer, error) {
			a, err := announce.Open(ifi, v4, v6)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
		promote:   vip.PromoteSecondaries,
		run:       runCommand,
		checkHost: checkHost,
		closers:   closers,
	}
	if sd != nil {
		e.notify, e.watchdog = sd.Notify, wd
	}
	a := newAgent(cfg, opts, e)
	if exp != nil {
		exp.log, exp.clock = a.log, a.clock
		a.metrics = exp
	}
	return a, nil
}

func newAgent(cfg *config.Config, opts Options, e *env) *Agent {
	a := &Agent{cfg: cfg, opts: opts, log: opts.Logger, clock: opts.Clock, env: e, drops: map[string]uint64{}, changed: make(chan struct{}, 1)}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.clock == nil {
		a.clock = SystemClock{}
	}
	if a.opts.HandoffLinger <= 0 {
		a.opts.HandoffLinger = DefaultHandoffLinger
	}
	a.renewals = newRenewer(e.renewals, a.clock)
	a.takeovers.all = opts.Takeover
	return a
}

// watch delivers address and link events until ctx ends.
func watch(ctx context.Context, fn func([]vip.Event)) error {
	w, err := vip.Watch()
	if err != nil {
		return err
	}
	if err := w.IgnoreAdded(); err != nil { // the lease renewals' echoes concern no instance
		w.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	for {
		evs, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fn(evs)
	}
}

// sharedConn is one VRRP socket (interface, family, source) and the
// instances that use it, by VRID.
type sharedConn struct {
	conn  netio.Conn
	mu    sync.RWMutex // byID and watch, which a reload changes
	byID  map[uint8]*instance
	watch map[identity]watcher // identities no instance runs, watched across a reload
	iface string
	six   bool
	src   netip.Addr
	mcast bool
}

// closeAll calls the closers in reverse order.
func closeAll(closers []func() error) {
	for _, c := range slices.Backward(closers) {
		c()
	}
}

// Run opens the sockets, removes stale VIPs, starts every instance and
// the status socket, and runs until ctx ends; then it stops every instance
// gracefully (see [Agent.Abort] to cut that short) and closes everything.
func (a *Agent) Run(ctx context.Context) (err error) {
	a.started = a.clock.Now()
	defer closeAll(a.env.closers)
	// The sockets setup opened are closed also when it fails half-way.
	defer func() {
		for _, c := range a.conns {
			c.conn.Close()
		}
	}()
	if err := a.setup(ctx); err != nil {
		return err
	}

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	var wg sync.WaitGroup
	if path := a.statusPath(); path != "" {
		l, err := status.Listen(path)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := status.Serve(bg, l, a); err != nil {
				a.log.Error("status socket stopped", "socket", path, "err", err)
			}
		}()
		a.log.Info("status socket ready", "socket", path)
	}
	if a.metrics != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.metrics.run(bg)
		}()
	}
	for _, c := range a.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.read(c)
		}()
	}
	a.reloader.goRead = func(c *sharedConn) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.read(c)
		}()
	}
	// Decided once, before a reload may change the instances.
	if len(a.instances) == 1 {
		a.renewals.inline = true
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.renewals.run(bg)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.env.renewals.Failures(bg, a.renewals.failed); err != nil {
			a.log.Error("VIP lease renewal failures can no longer be read: a refused renewal shows only when its VIP expires (and is put back)", "err", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.env.events(bg, a.dispatch); err != nil {
			a.log.Error("netlink events stopped: VIPs removed by others are no longer put back, link changes no longer seen", "err", err)
		}
	}()

	var running sync.WaitGroup
	a.reloader.goRun = func(in *instance) {
		running.Add(1)
		go func() {
			defer running.Done()
			in.run()
		}()
	}
	for _, in := range a.instances {
		running.Add(1)
		go func() {
			defer running.Done()
			in.run()
		}()
	}
	if a.env.notify != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.notifySystemd(bg)
		}()
	}
	if a.env.watchdog > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.watchdog(bg, a.env.watchdog)
		}()
	}
	a.reloader.start()
	a.log.Info("agent started", "cluster", a.cfg.Cluster, "node", a.cfg.Node, "instances", len(a.instances), "version", a.opts.Version)

	<-ctx.Done()
	a.reloader.stop()
	a.log.Info("stopping: masters hand off make-before-break")
	a.sdStopping()
	for _, in := range a.list() {
		in.post(in.shutdown)
	}
	running.Wait()
	a.notifying.Wait()
	a.log.Info("agent stopped")
	cancelBG()
	for _, c := range a.connList() {
		c.conn.Close()
	}
	wg.Wait()
	return nil
}

func (a *Agent) statusPath() string {
	switch p := a.opts.StatusSocket; p {
	case "-":
		return ""
	case "":
		if a.cfg.StatusSocket != "" {
			return a.cfg.StatusSocket
		}
		return config.DefaultStatusSocket
	default:
		return p
	}
}

// setup resolves interfaces, removes stale VIPs, opens the announcers and
// sockets and builds the instances.
func (a *Agent) setup(ctx context.Context) error {
	ifaces := map[string]*net.Interface{}
	lookup := func(name string) (*net.Interface, error) {
		if ifi, ok := ifaces[name]; ok {
			return ifi, nil
		}
		ifi, err := a.env.iface(name)
		if err != nil {
			return nil, fmt.Errorf("agent: interface %s: %w (is it named differently on this node?)", name, err)
		}
		ifaces[name] = ifi
		return ifi, nil
	}
	// Which families each device announces.
	type fams struct{ v4, v6 bool }
	devs := map[string]*fams{}
	for i := range a.cfg.Instances {
		c := &a.cfg.Instances[i]
		if _, err := lookup(c.Interface); err != nil {
			return err
		}
		for _, v := range c.VIPs {
			d := v.Device
			if d == "" {
				d = c.Interface
			}
			if _, err := lookup(d); err != nil {
				return err
			}
			if devs[d] == nil {
				devs[d] = &fams{}
			}
			if v.Prefix.Addr().Is4() {
				devs[d].v4 = true
			} else {
				devs[d].v6 = true
			}
		}
	}
	anns := map[string]Announcer{}
	a.reloader.anns, a.reloader.annFams = anns, map[string][2]bool{}
	for _, d := range slices.Sorted(maps.Keys(devs)) {
		a.reloader.annFams[d] = [2]bool{devs[d].v4, devs[d].v6}
		an, err := a.env.announce(ifaces[d], devs[d].v4, devs[d].v6)
		if err != nil {
			return err
		}
		if c, ok := an.(interface{ Close() error }); ok {
			a.env.closers = append(a.env.closers, c.Close)
		}
		anns[d] = an
	}
	for i := range a.cfg.Instances {
		in, err := a.newInstance(&a.cfg.Instances[i], lookup, anns)
		if err != nil {
			return err
		}
		if err := a.attach(ctx, in, ifaces[in.cfg.Interface]); err != nil {
			return err
		}
		if err := in.initMachine(); err != nil {
			return err
		}
		a.instances = append(a.instances, in)
	}
	a.setupGroups()
	return nil
}

// attach gives the instance its socket, sharing one per interface, family
// and source address.
func (a *Agent) attach(ctx context.Context, in *instance, ifi *net.Interface) error {
	six := in.six
	for _, c := range a.conns {
		if c.iface == ifi.Name && c.six == six && (!in.cfg.Source.IsValid() || c.src == in.cfg.Source) && c.mcast == !in.cfg.Unicast {
			c.mu.Lock()
			c.byID[in.cfg.VRID] = in
			c.mu.Unlock()
			in.adv.attach(c.conn)
			return nil
		}
	}
	var vips []netip.Addr
	for _, c := range a.cfg.Instances {
		for _, v := range c.VIPs {
			vips = append(vips, v.Prefix.Addr())
		}
	}
	conn, err := a.env.listen(ctx, netio.Config{Interface: ifi, IPv6: six, Multicast: !in.cfg.Unicast, Source: in.cfg.Source, NotSource: vips})
	if err != nil {
		return fmt.Errorf("agent: instance %s: %w", in.cfg.Name, err)
	}
	a.conns = append(a.conns, &sharedConn{conn: conn, byID: map[uint8]*instance{in.cfg.VRID: in}, iface: ifi.Name, six: six, src: conn.Source(), mcast: !in.cfg.Unicast})
	in.adv.attach(conn)
	return nil
}

// read receives adverts on one socket and hands them to the instance of
// their VRID.
func (a *Agent) read(c *sharedConn) {
	for {
		m, err := c.conn.Receive()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("receive failed", "interface", c.iface, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var in *instance
		if len(m.Payload) >= 2 {
			in = c.lookup(m.Payload[1])
		}
		if len(m.Payload) >= 2 {
			id := identity{vrid: m.Payload[1], version: int(m.Payload[0] >> 4)}
			if w, ok := c.watcher(id); ok && (in == nil || in.cfg.Version != id.version) {
				w.in.adv.deliverAs(m, w.exp)
				continue
			}
		}
		if in == nil {
			if len(m.Payload) >= 2 && a.claimedElsewhere(c, m.Payload[1]) {
				continue // another socket on this interface delivers it
			}
			a.mu.Lock()
			a.drops["vrid"]++
			a.mu.Unlock()
			continue
		}
		in.adv.deliver(m)
	}
}

// claimedElsewhere reports whether another socket on c's interface and
// family carries VRID id: every raw socket sees every advert.
func (a *Agent) claimedElsewhere(c *sharedConn, id uint8) bool {
	for _, o := range a.connList() {
		if o != c && o.iface == c.iface && o.six == c.six && o.lookup(id) != nil {
			return true
		}
	}
	return false
}

// dispatch hands netlink events to the instances they concern (see
// [instance.concerns]). Most events are the echoes of the masters' own
// lease renewals (AddrAdded), which concern no instance: waking every
// instance for each of them cost O(instances²) wake-ups a second.
func (a *Agent) dispatch(evs []vip.Event) {
	for _, in := range a.list() {
		var mine []vip.Event
		for _, e := range evs {
			if in.concerns(e) {
				mine = append(mine, e)
			}
		}
		if len(mine) > 0 {
			in.post(func() { in.onEvents(mine) })
		}
	}
}

// Abort cuts a graceful stop short: masters still draining remove their
// VIPs and stop at once (a second SIGTERM).
func (a *Agent) Abort() {
	for _, in := range a.list() {
		in.post(in.shutdown)
	}
}

// Report returns the agent's status.
func (a *Agent) Report() status.Report {
	a.topo.RLock()
	r := status.Report{
		Cluster:      a.cfg.Cluster,
		Node:         a.cfg.Node,
		ConfigDigest: a.opts.ConfigDigest,
		Version:      a.opts.Version,
		Started:      a.started,
	}
	a.topo.RUnlock()
	now := a.clock.Now()
	for _, in := range a.list() {
		r.Instances = append(r.Instances, in.snapshot(now))
	}
	for _, g := range a.groups {
		r.SyncGroups = append(r.SyncGroups, g.report())
	}
	a.mu.Lock()
	if len(a.drops) > 0 {
		r.Drops = map[string]uint64{}
		for k, v := range a.drops {
			r.Drops[k] = v
		}
	}
	a.mu.Unlock()
	return r
}

// TakeoverPriority is the priority an instance runs with during a
// takeover: the highest a node that does not own the VIP may have, so it
// preempts any other master (keepalived included) within one
// Master_Down_Interval.
const TakeoverPriority = 254

// Takeover makes every instance (or only the named one) take mastership:
// it runs with [TakeoverPriority] until released, and with preemption on
// becomes master within Master_Down_Interval; the old master (a hac agent
// or keepalived) yields when it hears the higher priority, after the new
// one holds the VIPs, so no packet is lost. hac apply uses it to move
// mastership off a keepalived node before converting it. With release it
// restores the configured priorities. It returns the instances it acted on.
// A named instance takes the other members of its sync group with it (they
// move together). An instance a reload starts again, or adds, takes on the
// takeover state of its name; Takeover waits for a running reload to end.
func (a *Agent) Takeover(name string, release bool) ([]string, error) {
	a.reloader.mu.Lock() // no instance starts meanwhile with the old state
	defer a.reloader.mu.Unlock()
	done, err := a.each(name, func(in *instance) bool { return in.takeOver(release) })
	if err != nil {
		return nil, err
	}
	var names []string // nil: all
	if name != "" {
		names = a.groupOf(name)
	}
	a.takeovers.set(names, !release)
	return done, nil
}

// Handoff hands mastership off gracefully without stopping: every master
// instance (or only the named one, with the other members of its sync
// group, which move together) sends priority 0, keeps its VIPs until
// the new master is heard, then rejoins as backup with priority 1 so it
// does not preempt back. With release, it restores the configured
// priorities instead. It returns the instances it acted on.
func (a *Agent) Handoff(name string, release bool) ([]string, error) {
	return a.each(name, func(in *instance) bool { return in.handoff(release) })
}

// each runs do in the goroutine of every instance (or only the named one
// and the other members of its sync group) and returns the names of those
// where it did something.
func (a *Agent) each(name string, do func(*instance) bool) ([]string, error) {
	var done []string
	found := false
	for _, in := range a.list() {
		if name != "" && !slices.Contains(a.groupOf(name), in.cfg.Name) {
			continue
		}
		found = found || in.cfg.Name == name || name == ""
		res := make(chan bool, 1)
		in.post(func() { res <- do(in) })
		select {
		case ok := <-res:
			if ok {
				done = append(done, in.cfg.Name)
			}
		case <-in.done:
		}
	}
	if !found {
		return nil, a.unknown(name)
	}
	return done, nil
}
