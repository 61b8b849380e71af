package tasks

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file starts throwaway redis-server processes (Debian's redis-server 7.0) on free loopback
// ports in a test's temporary directory, for the Sentinel, Cluster, password and TLS tests. Every
// process is killed in the test's Cleanup, and on Linux also when the test binary dies.

// requireRedisBinaries skips the test when redis-server or redis-cli is missing, unless CI is
// true: there a missing binary is a failure, so that CI cannot pass by skipping.
func requireRedisBinaries(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
				t.Fatalf("%s is not installed, and CI=%s: the Redis Sentinel/Cluster/TLS tests must run in CI (apt-get install redis-server)", bin, os.Getenv("CI"))
			}
			t.Skipf("%s is not installed: skipping the Redis Sentinel/Cluster/TLS tests (apt-get install redis-server to run them; with CI=true they fail instead)", bin)
		}
	}
}

// redisProc is one running redis-server.
type redisProc struct {
	name   string
	port   int
	dir    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// logTail is the end of the process's log, for failure messages.
func (p *redisProc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// procSpec says how to start one redis-server.
type procSpec struct {
	name string
	// ports is how many free ports args needs (a cluster node needs its bus port too); the first
	// is the one clients use.
	ports int
	// args returns redis-server's arguments for the given ports; it may write a config file into dir.
	args func(dir string, ports []int) []string
	// ready answers nil once the server takes commands.
	ready func(ctx context.Context, p *redisProc) error
}

// startRedisProc starts spec in its own directory under dir, on free loopback ports, and waits
// until it is ready. A port taken between choosing and binding it is retried with new ports.
func startRedisProc(t *testing.T, dir string, spec procSpec) *redisProc {
	t.Helper()
	pdir := filepath.Join(dir, spec.name)
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		t.Fatal(err)
	}
	var last string
	for try := 1; try <= 3; try++ {
		ports := freePorts(t, max(spec.ports, 1))
		p := &redisProc{name: spec.name, port: ports[0], dir: pdir, log: filepath.Join(pdir, fmt.Sprintf("redis-%d.log", try)), exited: make(chan struct{})}
		logf, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command("redis-server", spec.args(pdir, ports)...)
		p.cmd.Dir = pdir
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		p.cmd.SysProcAttr = killWithParent()
		if err := p.cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start redis-server (%s): %v", spec.name, err)
		}
		go func() { _ = p.cmd.Wait(); logf.Close(); close(p.exited) }()
		t.Cleanup(p.kill)
		err = waitFor(20*time.Second, p.exited, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return spec.ready(ctx, p)
		})
		if err == nil {
			return p
		}
		p.kill()
		last = fmt.Sprintf("%s on port %d: %v\nlog:\n%s", spec.name, p.port, err, p.logTail())
		if !strings.Contains(p.logTail(), "Address already in use") {
			break
		}
	}
	t.Fatalf("redis-server did not start: %s", last)
	return nil
}

// kill stops the process and waits, boundedly, until it is gone.
func (p *redisProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// waitFor polls check until it answers nil, the deadline passes or exited closes.
func waitFor(timeout time.Duration, exited <-chan struct{}, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// baseArgs are the arguments every test server shares: loopback only, nothing persisted, logs
// on stdout.
func baseArgs(dir string) []string {
	return []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", ""}
}

// testCerts are a throwaway CA and a server certificate it signed, for 127.0.0.1, ::1 and
// localhost, written as PEM files.
type testCerts struct {
	caFile, certFile, keyFile string
}

func writeTestCerts(t *testing.T, dir string) testCerts {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cphpurchase test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	c := testCerts{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server-key.pem")}
	writePEM(t, c.caFile, "CERTIFICATE", caDER)
	writePEM(t, c.certFile, "CERTIFICATE", srvDER)
	writePEM(t, c.keyFile, "PRIVATE KEY", keyDER)
	return c
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: typ, Bytes: der}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
