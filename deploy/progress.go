package deploy

import (
	"fmt"
	"io"
	"slices"
	"sync"
)

// NewProgress returns a Progress writing to w. Live, for a terminal, keeps
// one line per node and redraws them in place; otherwise it prints a
// plain line per update, for logs.
func NewProgress(w io.Writer, live bool) Progress {
	if live {
		return &liveProgress{w: w, states: map[string]string{}}
	}
	return &plainProgress{w: w}
}

type plainProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *plainProgress) Update(node, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s: %s\n", node, state)
}

// liveProgress redraws a block of lines, one per node, with ANSI cursor
// movement.
type liveProgress struct {
	mu     sync.Mutex
	w      io.Writer
	nodes  []string // in first-seen order
	states map[string]string
	drawn  int // lines on screen
}

// maxLine keeps a live line on one terminal row in most terminals.
const maxLine = 110

func (p *liveProgress) Update(node, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.nodes, node) {
		p.nodes = append(p.nodes, node)
	}
	p.states[node] = state
	var b []byte
	if p.drawn > 0 {
		b = fmt.Appendf(b, "\x1b[%dA", p.drawn)
	}
	for _, n := range p.nodes {
		line := fmt.Sprintf("%-24s %s", n, p.states[n])
		if r := []rune(line); len(r) > maxLine {
			line = string(r[:maxLine-1]) + "…"
		}
		b = fmt.Appendf(b, "\r\x1b[2K%s\n", line)
	}
	p.drawn = len(p.nodes)
	p.w.Write(b)
}
