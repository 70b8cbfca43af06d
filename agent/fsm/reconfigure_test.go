package fsm

import (
	"errors"
	"testing"
	"time"
)

// A reconfigured machine keeps its state and timers: a master stays master
// with the same advert deadline (RFC 5798 section 6.4.3: nothing in the
// protocol ties a running master to its configured priority but the
// adverts it sends).
func TestReconfigureKeepsStateAndTimers(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	m.Step(at(0), Start{})
	m.Step(at(0), VIPsReady{})
	if m.State() != Master {
		t.Fatalf("state %v, want MASTER", m.State())
	}
	wantDeadline(t, m, time.Second)
	if err := m.Reconfigure(config(func(c *Config) { c.Priority = 50; c.Preempt = false; c.PreemptDelay = 5 * time.Second })); err != nil {
		t.Fatal(err)
	}
	if m.State() != Master || m.Priority() != 255 {
		t.Fatalf("after Reconfigure: %v at %d, want MASTER at 255 until PriorityChange", m.State(), m.Priority())
	}
	wantDeadline(t, m, time.Second)
	// The new priority goes out with the next advert (RFC 5798 section 6.4.3).
	step(t, m, ms(100), PriorityChange{Priority: 50})
	step(t, m, time.Second, Timeout{}, SendAdvert{Priority: 50})
}

// RFC 5798 section 6.4.2: Preempt_Mode is consulted on each advert, so a
// backup whose preemption was turned off by a reload obeys a lower
// priority master instead of taking over.
func TestReconfigurePreemptDecidesNextAdvert(t *testing.T) {
	m := newMachine(t, nil) // priority 100, preempting
	m.Step(at(0), Start{})
	step(t, m, ms(10), Advert{Priority: 150, Src: upper})
	if err := m.Reconfigure(config(func(c *Config) { c.Preempt = false })); err != nil {
		t.Fatal(err)
	}
	m.Step(at(ms(20)), PriorityChange{Priority: 200})
	// A lower-priority advert is obeyed: the Master_Down_Timer restarts.
	step(t, m, ms(500), Advert{Priority: 150, Src: upper})
	mdi := MasterDownInterval(3, 200, time.Second, DefaultDownAdverts)
	wantDeadline(t, m, ms(500)+mdi)
	if m.State() != Backup {
		t.Fatalf("state %v, want BACKUP", m.State())
	}
}

// What defines the adverts and the timers needs a restart; the machine is
// left untouched.
func TestReconfigureRefusesIdentityChanges(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"version":      func(c *Config) { c.Version = 2 },
		"advert_int":   func(c *Config) { c.AdvertInt = 2 * time.Second },
		"primary":      func(c *Config) { c.Primary = upper },
		"down_adverts": func(c *Config) { c.DownAdverts = 5 },
	} {
		t.Run(name, func(t *testing.T) {
			m := newMachine(t, nil)
			m.Step(at(0), Start{})
			err := m.Reconfigure(config(mod))
			if !errors.Is(err, ErrRestart) {
				t.Fatalf("Reconfigure = %v, want ErrRestart", err)
			}
			if m.cfg != config(func(c *Config) { c.DownAdverts = DefaultDownAdverts }) {
				t.Fatalf("config changed to %+v", m.cfg)
			}
		})
	}
	m := newMachine(t, nil)
	if err := m.Reconfigure(config(func(c *Config) { c.Priority = 0 })); !errors.Is(err, ErrConfig) {
		t.Fatalf("Reconfigure priority 0 = %v, want ErrConfig", err)
	}
}
