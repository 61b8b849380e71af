// Package loopback tells whether an address accepts connections from this machine only: what
// decides whether the console, the intake and an embedded Redis may go without a token or a
// password.
package loopback

import (
	"net"
	"strings"
)

// Addr reports whether addr (host:port) is a loopback address. An empty host (":9464") listens
// on every interface, so it is not.
func Addr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && Host(host)
}

// Host reports whether host is a loopback IP or "localhost".
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
