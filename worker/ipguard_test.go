package worker

import (
	"net"
	"testing"
)

func TestInternalIP(t *testing.T) {
	tests := []struct {
		ip       string
		internal bool
	}{
		{"8.8.8.8", false},
		{"52.216.8.1", false},
		{"2606:4700::1111", false},
		{"127.0.0.1", true},
		{"10.1.2.3", true},
		{"172.31.0.1", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"100.100.1.1", true},
		{"0.0.0.0", true},
		{"255.255.255.255", true},
		{"198.18.0.1", true},
		{"::1", true},
		{"::", true},
		{"fd00::1", true},
		{"fe80::1", true},
		{"fec0::1", true},
		{"ff02::1", true},
		// IPv4-mapped.
		{"::ffff:127.0.0.1", true},
		{"::ffff:8.8.8.8", false},
		// IPv4-compatible ::a.b.c.d.
		{"::127.0.0.1", true},
		{"::169.254.169.254", true},
		{"::a00:1", true}, // ::10.0.0.1
		// NAT64 64:ff9b::/96.
		{"64:ff9b::7f00:1", true},    // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true}, // 169.254.169.254
		{"64:ff9b::c0a8:101", true},  // 192.168.1.1
		{"64:ff9b::808:808", false},  // 8.8.8.8
		{"64:ff9b:1::808:808", true}, // local-use NAT64: refused whole
		// 6to4 2002::/16: the IPv4 address is in bits 16–47.
		{"2002:7f00:1::1", true},   // 127.0.0.1
		{"2002:a9fe:a9fe::", true}, // 169.254.169.254
		{"2002:a00:1::", true},     // 10.0.0.1
		{"2002:808:808::1", false}, // 8.8.8.8
		// Teredo: server in bits 32–63, client inverted in the last 32.
		{"2001:0:7f00:1::", true},               // server 127.0.0.1
		{"2001:0:808:808:0:0:f5ff:fffe", true},  // client ^0a000001 = 10.0.0.1
		{"2001:0:808:808:0:0:f7f7:f7f7", false}, // client 8.8.8.8
	}
	for _, tt := range tests {
		ip := net.ParseIP(tt.ip)
		if ip == nil {
			t.Fatalf("bad test address %q", tt.ip)
		}
		if got := internalIP(ip); got != tt.internal {
			t.Errorf("internalIP(%s) = %v, want %v", tt.ip, got, tt.internal)
		}
	}
}
