package agent

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestListenMetricsLikeNetListen: the metrics socket takes the
// connections a Go listener on the same address takes (the agent served
// metrics with one before hac-metrics): an unspecified address, IPv4 or
// IPv6, both families; a loopback one its own; an IPv4-mapped one IPv4.
func TestListenMetricsLikeNetListen(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "fe80::1%lo"} {
		t.Run(host, func(t *testing.T) {
			reach := func(listen func(string) (net.Listener, error)) map[string]bool {
				l, err := listen(net.JoinHostPort(host, "0"))
				if err != nil {
					return map[string]bool{"listen fails": true}
				}
				defer l.Close()
				port := l.Addr().(*net.TCPAddr).Port
				got := map[string]bool{}
				for _, to := range []string{"127.0.0.1", "::1"} {
					c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr(to), uint16(port)).String())
					if err == nil {
						c.Close()
					}
					got[to] = err == nil
				}
				return got
			}
			want := reach(func(a string) (net.Listener, error) { return net.Listen("tcp", a) })
			got := reach(func(a string) (l net.Listener, err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
						t.Errorf("listenMetrics(%q) panics: %v", a, r)
					}
				}()
				f, err := listenMetrics(a)
				if err != nil {
					return nil, err
				}
				defer f.Close()
				return net.FileListener(f) // as hac-metrics takes it
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listenMetrics(%q) takes other connections than net.Listen (-want +got):\n%s", host, diff)
			}
		})
	}
}

// TestListenMetricsRefusals: a port in use, an address the node does not
// have and a zone naming no interface are refused naming the setting and
// the fix.
func TestListenMetricsRefusals(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct{ addr, want string }{
		{busy.Addr().String(), "(agent.metrics): address already in use: free the port, or choose another address"},
		{"198.18.255.254:9650", "(agent.metrics): cannot assign requested address: the node has no such address; choose one it has, 127.0.0.1 or 0.0.0.0"},
		{"[fe80::1%no-such-if0]:9650", `interface "no-such-if0"`},
	} {
		f, err := listenMetrics(tc.addr)
		if err == nil {
			f.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "metrics: cannot listen on "+tc.addr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("listenMetrics(%q) = %v, want it to say %q", tc.addr, err, tc.want)
		}
	}
}
