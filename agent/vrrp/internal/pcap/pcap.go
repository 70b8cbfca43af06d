// Package pcap reads and writes the few classic pcap files the vrrp tests
// need: it writes raw-IP captures of VRRP packets for tshark, and reads
// tcpdump's Ethernet captures of keepalived's adverts. It is not a general
// pcap library: no VLANs, no IPv6 extension headers, no fragments.
package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Packet is one IP packet carrying protocol 112 (VRRP).
type Packet struct {
	Src, Dst netip.Addr
	TTL      int // TTL or hop limit
	Payload  []byte
}

// Link types (https://www.tcpdump.org/linktypes.html).
const (
	linkEthernet = 1
	linkRaw      = 101
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	protocol   = 112
)

// Write writes pkts as a raw-IP pcap, building each IPv4 (TOS 0xc0, header
// checksum filled) or IPv6 (traffic class 0xc0) header.
func Write(w io.Writer, pkts []Packet) error {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, magicMicro))
	b.Write(le.AppendUint16(nil, 2))
	b.Write(le.AppendUint16(nil, 4))
	b.Write(make([]byte, 8))             // thiszone, sigfigs
	b.Write(le.AppendUint32(nil, 65535)) // snaplen
	b.Write(le.AppendUint32(nil, linkRaw))
	for i, p := range pkts {
		ip := ipPacket(p, i+1)
		rec := le.AppendUint32(nil, uint32(i)) // one packet per second
		rec = le.AppendUint32(rec, 0)
		rec = le.AppendUint32(rec, uint32(len(ip)))
		rec = le.AppendUint32(rec, uint32(len(ip)))
		b.Write(rec)
		b.Write(ip)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func ipPacket(p Packet, id int) []byte {
	be := binary.BigEndian
	if p.Src.Is6() {
		h := make([]byte, 40, 40+len(p.Payload))
		be.PutUint32(h, 6<<28|0xc0<<20)
		be.PutUint16(h[4:], uint16(len(p.Payload)))
		h[6], h[7] = protocol, byte(p.TTL)
		s, d := p.Src.As16(), p.Dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		return append(h, p.Payload...)
	}
	h := make([]byte, 20, 20+len(p.Payload))
	h[0], h[1] = 0x45, 0xc0
	be.PutUint16(h[2:], uint16(20+len(p.Payload)))
	be.PutUint16(h[4:], uint16(id))
	h[8], h[9] = byte(p.TTL), protocol
	s, d := p.Src.As4(), p.Dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(be.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	be.PutUint16(h[10:], ^uint16(sum))
	return append(h, p.Payload...)
}

// Read returns the VRRP packets of an Ethernet or raw-IP pcap, skipping
// every other packet.
func Read(r io.Reader) ([]Packet, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(data) < 24 {
		return nil, errors.New("pcap: file shorter than its header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if m := binary.BigEndian.Uint32(data); m == magicMicro || m == magicNano {
		bo = binary.BigEndian
	} else if m := bo.Uint32(data); m != magicMicro && m != magicNano {
		return nil, fmt.Errorf("pcap: magic %#x: not a classic pcap file", m)
	}
	link := bo.Uint32(data[20:])
	if link != linkEthernet && link != linkRaw {
		return nil, fmt.Errorf("pcap: link type %d: want Ethernet or raw IP", link)
	}
	var pkts []Packet
	for rest := data[24:]; len(rest) > 0; {
		if len(rest) < 16 {
			return nil, errors.New("pcap: truncated record header")
		}
		n := int(bo.Uint32(rest[8:]))
		if len(rest) < 16+n {
			return nil, errors.New("pcap: truncated record")
		}
		frame := rest[16 : 16+n]
		rest = rest[16+n:]
		if link == linkEthernet {
			if len(frame) < 14 {
				continue
			}
			frame = frame[14:]
		}
		if p, ok := parseIP(frame); ok {
			pkts = append(pkts, p)
		}
	}
	return pkts, nil
}

func parseIP(b []byte) (Packet, bool) {
	be := binary.BigEndian
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		hl, total := int(b[0]&0x0f)*4, int(be.Uint16(b[2:]))
		if b[9] != protocol || hl < 20 || total < hl || total > len(b) {
			return Packet{}, false
		}
		return Packet{Src: netip.AddrFrom4([4]byte(b[12:16])), Dst: netip.AddrFrom4([4]byte(b[16:20])),
			TTL: int(b[8]), Payload: bytes.Clone(b[hl:total])}, true
	case len(b) >= 40 && b[0]>>4 == 6:
		n := int(be.Uint16(b[4:]))
		if b[6] != protocol || 40+n > len(b) {
			return Packet{}, false
		}
		return Packet{Src: netip.AddrFrom16([16]byte(b[8:24])), Dst: netip.AddrFrom16([16]byte(b[24:40])),
			TTL: int(b[7]), Payload: bytes.Clone(b[40 : 40+n])}, true
	}
	return Packet{}, false
}
