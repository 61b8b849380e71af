package loopback

import "testing"

func TestAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9464": true, "127.0.0.2:80": true, "[::1]:9464": true, "localhost:9464": true, "LOCALHOST:1": true,
		":9464": false, "0.0.0.0:9464": false, "[::]:9464": false, "10.0.0.7:9464": false,
		"worker.internal:9464": false, "127.0.0.1": false, "": false,
	} {
		if got := Addr(addr); got != want {
			t.Errorf("Addr(%q) = %v, want %v", addr, got, want)
		}
	}
}
