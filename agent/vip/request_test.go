package vip

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// answer builds one netlink message: an NLMSG_ERROR with code for seq
// (what the kernel answers a request with NLM_F_ACK), or another type.
func answer(typ uint16, seq uint32, code int32, pad int) []byte {
	b := make([]byte, nlmsgHeaderLen+4+pad)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	binary.NativeEndian.PutUint32(b[nlmsgHeaderLen:], uint32(code))
	return b
}

func TestAnswerSetTake(t *testing.T) {
	cat := func(bs ...[]byte) (out []byte) {
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	var first uint32 = 0xffff_fffe // the sequence numbers wrap in the set
	noCode := answer(unix.NLMSG_ERROR, first, 0, 0)[:nlmsgHeaderLen]
	binary.NativeEndian.PutUint32(noCode, nlmsgHeaderLen)
	for _, tc := range []struct {
		name      string
		datagrams [][]byte
		want      []error
		left      int
		wantErr   bool
	}{
		{"acks", [][]byte{answer(unix.NLMSG_ERROR, first, 0, 0), answer(unix.NLMSG_ERROR, first+1, 0, 16), answer(unix.NLMSG_ERROR, first+2, 0, 0)},
			[]error{nil, nil, nil}, 0, false},
		{"a refusal, two in a datagram", [][]byte{cat(answer(unix.NLMSG_ERROR, first+1, -int32(unix.ENODEV), 0), answer(unix.NLMSG_ERROR, first, 0, 0))},
			[]error{nil, syscall.ENODEV, nil}, 1, false},
		{"stale and foreign messages skipped", [][]byte{answer(unix.NLMSG_ERROR, first-1, -1, 0), answer(unix.RTM_NEWADDR, first, 0, 0), answer(unix.NLMSG_ERROR, first+3, 0, 0)},
			[]error{nil, nil, nil}, 3, false},
		{"an answer twice counts once", [][]byte{answer(unix.NLMSG_ERROR, first, 0, 0), answer(unix.NLMSG_ERROR, first, -int32(unix.EPERM), 0)},
			[]error{nil, nil, nil}, 2, false},
		{"short header", [][]byte{make([]byte, 8)}, []error{nil, nil, nil}, 3, true},
		{"length past the end", [][]byte{answer(unix.NLMSG_ERROR, first, 0, 0)[:18]}, []error{nil, nil, nil}, 3, true},
		{"error without its code", [][]byte{noCode}, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := answerSet{first: first, answers: make([]error, 3), answered: make([]bool, 3), left: 3}
			var err error
			for _, d := range tc.datagrams {
				if err = as.take(d); err != nil {
					break
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("take: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, as.answers, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			if as.left != tc.left {
				t.Errorf("left %d, want %d", as.left, tc.left)
			}
		})
	}
}

// FuzzAnswerSet feeds arbitrary datagrams to the answer parser: it never
// panics, and never counts more answers than requests.
func FuzzAnswerSet(f *testing.F) {
	f.Add(uint32(7), answer(unix.NLMSG_ERROR, 7, 0, 0))
	f.Add(uint32(0xffffffff), append(answer(unix.NLMSG_ERROR, 0, -19, 3), answer(unix.NLMSG_DONE, 1, 0, 0)...))
	f.Fuzz(func(t *testing.T, first uint32, d []byte) {
		as := answerSet{first: first, answers: make([]error, 4), answered: make([]bool, 4), left: 4}
		_ = as.take(d)
		if as.left < 0 {
			t.Fatalf("left %d after %x", as.left, d)
		}
	})
}
