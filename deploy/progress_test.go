package deploy

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProgress(t *testing.T) {
	var live, plain bytes.Buffer
	for _, p := range []Progress{NewProgress(&live, true), NewProgress(&plain, false)} {
		p.Update("c/n1", "connecting")
		p.Update("c/n2", "connecting")
		p.Update("c/n1", "applied")
	}
	// Each update redraws the block in place: cursor up, clear, rewrite.
	wantLive := "\r\x1b[2Kc/n1                     connecting\n" +
		"\x1b[1A\r\x1b[2Kc/n1                     connecting\n\r\x1b[2Kc/n2                     connecting\n" +
		"\x1b[2A\r\x1b[2Kc/n1                     applied\n\r\x1b[2Kc/n2                     connecting\n"
	if diff := cmp.Diff(wantLive, live.String()); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("c/n1: connecting\nc/n2: connecting\nc/n1: applied\n", plain.String()); diff != "" {
		t.Errorf("plain (-want +got):\n%s", diff)
	}
}
