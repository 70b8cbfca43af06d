package agent

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestListenMetrics: the metrics socket takes connections on the address
// asked for ([::] IPv4 ones too, as Go's own listeners do), and a port in
// use is refused naming the setting and the fix.
func TestListenMetrics(t *testing.T) {
	for _, tc := range []struct {
		addr string
		dial []string // networks and hosts that must connect
	}{
		{"127.0.0.1:0", []string{"tcp4 127.0.0.1"}},
		{"[::1]:0", []string{"tcp6 ::1"}},
		{"[::]:0", []string{"tcp6 ::1", "tcp4 127.0.0.1"}},
		{"0.0.0.0:0", []string{"tcp4 127.0.0.1"}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			f, err := listenMetrics(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			l, err := net.FileListener(f) // as hac-metrics takes it
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			_, port, _ := net.SplitHostPort(l.Addr().String())
			for _, d := range tc.dial {
				network, host, _ := strings.Cut(d, " ")
				c, err := net.DialTimeout(network, net.JoinHostPort(host, port), 2*time.Second)
				if err != nil {
					t.Errorf("%s to %s: %v", network, host, err)
					continue
				}
				c.Close()
			}
			_, err = listenMetrics(l.Addr().String())
			if err == nil || !strings.Contains(err.Error(), "(agent.metrics)") || !strings.Contains(err.Error(), "address already in use: free the port") {
				t.Errorf("listening on %s again = %v; want address in use, naming agent.metrics and the fix", l.Addr(), err)
			}
		})
	}
	if _, err := listenMetrics("[fe80::1%no-such-if0]:9650"); err == nil || !strings.Contains(err.Error(), `interface "no-such-if0"`) {
		t.Errorf("a zone naming no interface = %v, want it named", err)
	}
}
