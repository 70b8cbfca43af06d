package vip

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// refusal is the kernel's answer to a renewal of l it refused with errno:
// an NLMSG_ERROR carrying the request (NETLINK_CAP_ACK off).
func refusal(t testing.TB, l Lease, errno syscall.Errno) []byte {
	t.Helper()
	var reqs leaseRequests
	body, err := reqs.body(l)
	if err != nil {
		t.Fatal(err)
	}
	req := appendRequest(nil, netlink.HeaderType(unix.RTM_NEWADDR), netlink.Create|netlink.Replace, 9, body)
	b := answer(unix.NLMSG_ERROR, 9, -int32(errno), len(req))
	copy(b[nlmsgHeaderLen+4:], req)
	return b
}

// TestRenewalFailures: each refusal in a datagram is a failure naming its
// address and interface; acknowledgements and other messages are
// skipped; a refusal without its request, or a datagram that cannot be
// read, is a failure naming no address.
func TestRenewalFailures(t *testing.T) {
	v4 := Lease{Index: 2, Prefix: netip.MustParsePrefix("198.18.0.200/24"), Lease: 4 * time.Second}
	v6 := Lease{Index: 3, Prefix: netip.MustParsePrefix("2001:db8:18::200/128"), Lease: 2 * time.Second}
	type failure struct {
		Index  int
		Prefix netip.Prefix
		Errno  syscall.Errno
	}
	truncated := refusal(t, v4, unix.ENODEV)[:nlmsgHeaderLen+4+nlmsgHeaderLen+4]
	binary.NativeEndian.PutUint32(truncated, uint32(len(truncated)))
	for _, tc := range []struct {
		name string
		d    []byte
		want []failure
	}{
		{"IPv4", refusal(t, v4, unix.ENODEV), []failure{{2, v4.Prefix, unix.ENODEV}}},
		{"two in a datagram, IPv6", append(refusal(t, v6, unix.EACCES), refusal(t, v4, unix.ENOBUFS)...),
			[]failure{{3, v6.Prefix, unix.EACCES}, {2, v4.Prefix, unix.ENOBUFS}}},
		{"acknowledgement and other types skipped", append(answer(unix.NLMSG_ERROR, 1, 0, 0), answer(unix.RTM_NEWADDR, 2, -1, 0)...), nil},
		{"request cut short", truncated, []failure{{0, netip.Prefix{}, unix.ENODEV}}},
		{"length past the end", refusal(t, v4, unix.ENODEV)[:20], []failure{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []failure
			for _, f := range renewalFailures(tc.d) {
				var errno syscall.Errno
				errors.As(f.Err, &errno)
				got = append(got, failure{f.Index, f.Prefix, errno})
			}
			if d := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("failures (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzRenewalFailures feeds arbitrary datagrams to the renewal socket's
// decoder: it never panics, and every failure has an error and, when it
// names an address, a valid one.
func FuzzRenewalFailures(f *testing.F) {
	f.Add(refusal(f, Lease{Index: 2, Prefix: netip.MustParsePrefix("198.18.0.200/32"), Lease: 4 * time.Second}, unix.ENODEV))
	f.Add(refusal(f, Lease{Index: 3, Prefix: netip.MustParsePrefix("2001:db8::1/64"), Lease: time.Second}, unix.EPERM))
	f.Add(answer(unix.NLMSG_ERROR, 1, 0, 0))
	f.Fuzz(func(t *testing.T, d []byte) {
		for _, fl := range renewalFailures(d) {
			if fl.Err == nil {
				t.Errorf("a failure without an error from %x", d)
			}
			if fl.Prefix.IsValid() && fl.Prefix.Bits() < 0 {
				t.Errorf("an invalid prefix %v from %x", fl.Prefix, d)
			}
		}
	})
}
