// Command floor is the idle footprint's floor for a Go daemon, measured
// beside hac-agent and keepalived (bench/footprint): N goroutines, each
// sending one advert-sized datagram to the VRRP group every second, and
// nothing else, with the agent's runtime settings (one thread runs Go
// code at a time). What hac-agent costs above it is hac's; what it costs
// above keepalived is Go's runtime.
//
// Usage: floor -n 100 -from 198.18.0.11
package main

import (
	"flag"
	"log"
	"net"
	"runtime"
	"time"
)

func main() {
	n := flag.Int("n", 1, "how many senders (instances)")
	from := flag.String("from", "", "the source address (the node's address on the group's interface)")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	src, err := net.ResolveUDPAddr("udp4", *from+":0")
	if err != nil {
		log.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 18), Port: 9}
	for range *n {
		c, err := net.DialUDP("udp4", src, dst)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			b := make([]byte, 20) // a VRRPv2 advert with one address and the pass
			for range time.Tick(time.Second) {
				if _, err := c.Write(b); err != nil {
					log.Print(err)
				}
			}
		}()
	}
	select {}
}
