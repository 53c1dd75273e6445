package worker

import (
	"net"
	"net/netip"
)

// internalIP reports whether ip must not be reached through a customer's
// endpoint: loopback, private, link-local, CGNAT, multicast, unspecified,
// reserved, and IPv6 addresses that carry such an IPv4 address inside them
// (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
// 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32), since a NAT64 or 6to4
// gateway on the daemon's network would deliver them to the internal IPv4
// address. The local-use NAT64 prefix 64:ff9b:1::/48 is refused whole.
func internalIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return true
	}
	a = a.Unmap()
	if a.Is4() {
		return internalIPv4(a)
	}
	for _, v4 := range embeddedIPv4(a) {
		if internalIPv4(v4) {
			return true
		}
	}
	if localNAT64.Contains(a) {
		return true
	}
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || siteLocal.Contains(a)
}

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	localNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
	v4compat   = netip.MustParsePrefix("::/96")
	siteLocal  = netip.MustParsePrefix("fec0::/10") // deprecated, still routed on some networks

	internalV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT
		netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and 255.255.255.255
		netip.MustParsePrefix("169.254.0.0/16"), // link-local (metadata services)
		netip.MustParsePrefix("127.0.0.0/8"),    // loopback
		netip.MustParsePrefix("10.0.0.0/8"),     // private
		netip.MustParsePrefix("172.16.0.0/12"),  // private
		netip.MustParsePrefix("192.168.0.0/16"), // private
		netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	}
)

func internalIPv4(a netip.Addr) bool {
	for _, p := range internalV4 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 address carries by one of
// the transition mechanisms.
func embeddedIPv4(a netip.Addr) []netip.Addr {
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case nat64.Contains(a), v4compat.Contains(a):
		return []netip.Addr{v4(12)}
	case sixToFour.Contains(a):
		return []netip.Addr{v4(2)}
	case teredo.Contains(a):
		// Server address in bits 32–63; the client's is stored inverted.
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		return []netip.Addr{v4(4), client}
	}
	return nil
}
