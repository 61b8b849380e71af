package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/testkit"
)

// redisServer is a redis-server process of the test's own, on a free loopback port, with an
// append-only file in a directory of the test, so that it can be shut down and started again
// with its data, as an operator's restart or a failover would.
type redisServer struct {
	t    testing.TB
	ps   *procs
	bin  string
	port int
	dir  string
	proc *proc
}

// findRedisServer returns the redis-server binary. Without one the test is skipped, unless CI is
// set: CI's machine has Debian's redis-server, and a suite that silently skipped there would prove
// nothing.
func findRedisServer(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("redis-server is not installed, and CI=true: install Debian's redis-server (%v)", err)
	}
	t.Skipf("redis-server is not installed (%v): apt-get install redis-server, or run in CI", err)
	return ""
}

func startRedisServer(t testing.TB, ps *procs) *redisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rs := &redisServer{t: t, ps: ps, bin: findRedisServer(t), port: port, dir: t.TempDir()}
	rs.start()
	return rs
}

// url is the REDIS_URL of the server.
func (rs *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port) }

// start runs redis-server on the port and waits until it answers with its data loaded.
func (rs *redisServer) start() {
	rs.t.Helper()
	rs.proc = rs.ps.start("redis-server", rs.bin, []string{
		"--port", fmt.Sprint(rs.port), "--bind", "127.0.0.1", "--dir", rs.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--daemonize", "no", "--protected-mode", "yes",
	}, nil)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port), MaxRetries: -1})
	defer rdb.Close()
	if !testkit.Poll(30*time.Second, func() bool {
		return rdb.Ping(context.Background()).Err() == nil || rs.proc.exited()
	}) || rs.proc.exited() {
		rs.proc.dump()
		rs.t.Fatal("redis-server did not start")
	}
}

// restart shuts the server down as an operator would (SHUTDOWN: the append-only file is flushed),
// keeps it down for down, and starts it again on the same port and directory.
func (rs *redisServer) restart(down time.Duration) {
	rs.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port), MaxRetries: -1})
	_ = rdb.Shutdown(context.Background()).Err() // the connection closes under it: no answer
	rdb.Close()
	if _, ok := rs.proc.wait(30 * time.Second); !ok {
		rs.proc.dump()
		rs.t.Fatal("redis-server did not shut down")
	}
	time.Sleep(down)
	rs.start()
}
