// Package interfaces reads Debian's ifupdown configuration,
// /etc/network/interfaces and the files it sources (interfaces(5)): its
// stanzas with their line numbers, each static stanza's address, and the
// static aliases (iface eth1:0 inet static) that hold a VIP. It removes
// stanzas from a file while keeping every other line as written.
//
// hac import reads a node's address and subnet from it and reports a
// static VIP alias; hac apply removes such an alias, because the VRRP
// daemon must be the only one to add and remove a VIP.
package interfaces

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// A File is a parsed interfaces file.
type File struct {
	Name string
	// Lines are the file's lines as written, without their newline.
	Lines []string
	// Stanzas in file order.
	Stanzas []*Stanza
}

// A Stanza is one top-level statement: "iface NAME FAMILY METHOD" with its
// option lines, "mapping", "auto NAME...", "allow-CLASS NAME...",
// "source PATTERN", "source-directory DIR", "no-auto-down NAME...",
// "no-scripts NAME...".
type Stanza struct {
	Kind string   // the keyword: iface, auto, allow-hotplug, source, ...
	Args []string // the words after it
	// Options are an iface or mapping stanza's option lines, in order.
	Options []Option
	// First and Last are the 1-based lines the stanza spans (comment and
	// blank lines inside included).
	First, Last int
}

// An Option is one option line of an iface stanza ("address 10.0.0.1/24").
type Option struct {
	Key   string
	Value string
	Line  int
}

// stanzaKinds are the keywords that start a stanza.
func isStanza(word string) bool {
	switch word {
	case "iface", "mapping", "auto", "source", "source-directory", "no-auto-down", "no-scripts", "rename":
		return true
	}
	return strings.HasPrefix(word, "allow-")
}

// Parse reads one interfaces file. It fails on an option line before any
// iface or mapping stanza and on an iface stanza with fewer than three
// words after the keyword, naming the line.
func Parse(name string, src []byte) (*File, error) {
	text := strings.ReplaceAll(string(src), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	f := &File{Name: name}
	if text != "" {
		f.Lines = strings.Split(text, "\n")
	}
	var cur *Stanza
	for i := 0; i < len(f.Lines); i++ {
		first := i + 1
		line := f.Lines[i]
		// A backslash at the end continues the line.
		for strings.HasSuffix(line, "\\") && i+1 < len(f.Lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + f.Lines[i]
		}
		words := strings.Fields(line)
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		if isStanza(words[0]) {
			cur = &Stanza{Kind: words[0], Args: words[1:], First: first, Last: i + 1}
			if cur.Kind == "iface" && len(cur.Args) < 3 {
				return nil, fmt.Errorf("%s:%d: iface needs a name, an address family and a method (iface eth1 inet static)", name, first)
			}
			f.Stanzas = append(f.Stanzas, cur)
			if cur.Kind != "iface" && cur.Kind != "mapping" {
				cur = nil
			}
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: option %q outside an iface or mapping stanza", name, first, words[0])
		}
		cur.Options = append(cur.Options, Option{Key: words[0], Value: strings.Join(words[1:], " "), Line: first})
		cur.Last = i + 1
	}
	return f, nil
}

// Option returns the value of the stanza's first option named key.
func (s *Stanza) Option(key string) (string, bool) {
	for _, o := range s.Options {
		if o.Key == key {
			return o.Value, true
		}
	}
	return "", false
}

// Name is an iface stanza's logical interface name ("eth1", "eth1:0").
func (s *Stanza) Name() string {
	if s.Kind != "iface" || len(s.Args) == 0 {
		return ""
	}
	return s.Args[0]
}

// Device is the kernel interface an iface stanza configures: the name up
// to an alias suffix (":0").
func (s *Stanza) Device() string {
	dev, _, _ := strings.Cut(s.Name(), ":")
	return dev
}

// Address returns a static iface stanza's address with its prefix length
// ("address A/LEN", or "address A" with "netmask M" or a bare length;
// without either, the family's full length, as ifupdown does).
func (s *Stanza) Address() (netip.Prefix, error) {
	if s.Kind != "iface" || len(s.Args) < 3 || s.Args[2] != "static" {
		return netip.Prefix{}, fmt.Errorf("line %d: iface %s is not static", s.First, s.Name())
	}
	a, ok := s.Option("address")
	if !ok {
		return netip.Prefix{}, fmt.Errorf("line %d: iface %s has no address", s.First, s.Name())
	}
	if p, err := netip.ParsePrefix(a); err == nil {
		return p, nil
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("line %d: iface %s: address %q is not an IP address", s.First, s.Name(), a)
	}
	bits := addr.BitLen()
	if m, ok := s.Option("netmask"); ok {
		if bits, err = maskBits(m, addr.Is4()); err != nil {
			return netip.Prefix{}, fmt.Errorf("line %d: iface %s: %v", s.First, s.Name(), err)
		}
	}
	return netip.PrefixFrom(addr, bits), nil
}

// maskBits reads a netmask written as a dotted mask or a length.
func maskBits(m string, v4 bool) (int, error) {
	if n, err := strconv.Atoi(m); err == nil && n >= 0 && (n <= 32 || !v4 && n <= 128) {
		return n, nil
	}
	a, err := netip.ParseAddr(m)
	if err != nil || !a.Is4() || !v4 {
		return 0, fmt.Errorf("netmask %q is neither a dotted IPv4 mask nor a length", m)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&(1<<31) != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", m)
	}
	return ones, nil
}

// Sources returns the patterns of the file's source and source-directory
// stanzas, in order; source-directory D is returned as D/* (interfaces(5)
// runs only names of letters, digits, '_' and '-' from it: see [Sourced]).
func (f *File) Sources() []string {
	var out []string
	for _, s := range f.Stanzas {
		for _, a := range s.Args {
			switch s.Kind {
			case "source":
				out = append(out, a)
			case "source-directory":
				out = append(out, strings.TrimSuffix(a, "/")+"/*")
			}
		}
	}
	return out
}

// Sourced reports whether a file named base inside a source-directory is
// read: only names of letters, digits, '_' and '-' (run-parts' rule).
func Sourced(base string) bool {
	return base != "" && strings.IndexFunc(base, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}

// An Alias is a static iface stanza that holds a VIP.
type Alias struct {
	File   string
	Line   int
	Name   string       // logical name, e.g. "eth1:0"
	Prefix netip.Prefix // the address as configured, e.g. 192.168.200.102/24
}

// Aliases returns the static iface stanzas on device dev (dev itself or an
// alias dev:N) whose address is one of vips.
func (f *File) Aliases(dev string, vips []netip.Addr) []Alias {
	var out []Alias
	for _, s := range f.Stanzas {
		if s.Kind != "iface" || s.Device() != dev {
			continue
		}
		p, err := s.Address()
		if err != nil || !slices.Contains(vips, p.Addr()) {
			continue
		}
		out = append(out, Alias{File: f.Name, Line: s.First, Name: s.Name(), Prefix: p})
	}
	return out
}

// Without returns the file's content without the iface stanzas of the
// named logical interfaces (with their option lines and the comment lines
// right above them) and without those names on auto and allow- lines (a
// line left with no name goes, with the comments right above it). Every
// other line stays as written.
func (f *File) Without(names []string) []byte {
	drop := make([]bool, len(f.Lines)+2)
	dropWithComments := func(first, last int) {
		for l := first; l <= last; l++ {
			drop[l] = true
		}
		for l := first - 1; l >= 1; l-- {
			t := strings.TrimSpace(f.Lines[l-1])
			if !strings.HasPrefix(t, "#") {
				break
			}
			drop[l] = true
		}
	}
	edited := map[int]string{}
	for _, s := range f.Stanzas {
		switch {
		case s.Kind == "iface" && slices.Contains(names, s.Name()):
			dropWithComments(s.First, s.Last)
		case (s.Kind == "auto" || strings.HasPrefix(s.Kind, "allow-")) && slices.ContainsFunc(s.Args, func(a string) bool { return slices.Contains(names, a) }):
			var keep []string
			for _, a := range s.Args {
				if !slices.Contains(names, a) {
					keep = append(keep, a)
				}
			}
			if len(keep) == 0 {
				dropWithComments(s.First, s.Last)
			} else {
				for l := s.First + 1; l <= s.Last; l++ {
					drop[l] = true
				}
				edited[s.First] = s.Kind + " " + strings.Join(keep, " ")
			}
		}
	}
	var b strings.Builder
	prevBlank, dropped := false, false
	for i, line := range f.Lines {
		l := i + 1
		if drop[l] {
			dropped = true
			continue
		}
		if e, ok := edited[l]; ok {
			line = e
		}
		blank := strings.TrimSpace(line) == ""
		if blank && prevBlank && dropped {
			continue // no run of blank lines where a stanza went
		}
		if !blank {
			dropped = false
		}
		prevBlank = blank
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
