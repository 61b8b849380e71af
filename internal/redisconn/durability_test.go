package redisconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// testClient is a client of the machine's Redis when REDIS_URL is set (CI), of a miniredis
// otherwise; real tells which.
func testClient(t *testing.T) (rdb redis.UniversalClient, real bool) {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url, real = "redis://"+miniredis.RunT(t).Addr()+"/0", false
	} else {
		real = true
	}
	opt, err := ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	rdb = NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return rdb, real
}

// On the machine's Redis, Inspect reports what CONFIG GET and INFO replication say, read here on
// their own. On miniredis, which has no CONFIG command and no replication section in INFO, every
// part is unknown, and that is no error.
func TestInspect(t *testing.T) {
	ctx := context.Background()
	rdb, real := testClient(t)
	d, err := Inspect(ctx, rdb)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	t.Logf("real=%v: %+v (persistence %s)", real, d, d.Persistence)
	if d.Masters != 1 {
		t.Errorf("Masters = %d, want 1", d.Masters)
	}
	if !real {
		if want := (Durability{Persistence: PersistenceUnknown, Replicas: -1, Masters: 1}); d != want {
			t.Fatalf("on miniredis: %+v, want %+v", d, want)
		}
		return
	}
	cfg := map[string]string{}
	for _, p := range []string{"appendonly", "save", "appendfsync", "maxmemory-policy"} {
		m, err := rdb.ConfigGet(ctx, p).Result()
		if err != nil {
			t.Logf("CONFIG GET %s: %v (persistence must be unknown)", p, err)
			continue
		}
		if v, ok := m[p]; ok {
			cfg[p] = v
		}
	}
	want := persistenceOf(cfg)
	if d.Persistence != want {
		t.Errorf("Persistence = %s, want %s from %q", d.Persistence, want, cfg)
	}
	if d.EvictionPolicy != cfg["maxmemory-policy"] {
		t.Errorf("EvictionPolicy = %q, want %q", d.EvictionPolicy, cfg["maxmemory-policy"])
	}
	info, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatalf("INFO replication: %v", err)
	}
	role, replicas := parseReplication(info)
	if role == "" || replicas < 0 {
		t.Fatalf("INFO replication of the machine's Redis not understood: %q", info)
	}
	if d.Role != role || d.Replicas != replicas {
		t.Errorf("Role, Replicas = %q, %d; INFO replication says %q, %d", d.Role, d.Replicas, role, replicas)
	}
}

// A user that may not run CONFIG, as on managed Redis: persistence is unknown, replication is
// still read, and there is no error. On the machine's Redis an ACL user of the test's own,
// deleted afterwards; on miniredis, which has no ACL, its unknown CONFIG command.
func TestInspectConfigForbidden(t *testing.T) {
	ctx := context.Background()
	admin, real := testClient(t)
	if !real {
		d, err := Inspect(ctx, admin)
		if err != nil || d.Persistence != PersistenceUnknown {
			t.Fatalf("Inspect = %+v, %v; want unknown persistence and no error", d, err)
		}
		return
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	user, pass := "redisconn-test-"+hex.EncodeToString(b), hex.EncodeToString(b)+"-pw"
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatalf("ACL SETUSER (the machine's Redis must allow ACL for this test): %v", err)
	}
	t.Cleanup(func() { _ = admin.Do(context.Background(), "ACL", "DELUSER", user).Err() })

	opt := admin.(*redis.Client).Options()
	limited := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB, Username: user, Password: pass, TLSConfig: opt.TLSConfig})
	t.Cleanup(func() { _ = limited.Close() })
	if err := limited.ConfigGet(ctx, "appendonly").Err(); !redis.IsPermissionError(err) {
		t.Fatalf("CONFIG GET as %s: %v, want NOPERM", user, err)
	}
	d, err := Inspect(ctx, limited)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if d.Persistence != PersistenceUnknown || d.EvictionPolicy != "" || d.AppendFsync != "" {
		t.Errorf("without CONFIG: %+v, want persistence, fsync and eviction unknown", d)
	}
	if d.Role == "" || d.Replicas < 0 {
		t.Errorf("without CONFIG: %+v, want the role and replicas from INFO", d)
	}
}

// fakeConfig gives a miniredis the CONFIG GET that it lacks, answering from values; a parameter
// not in values is answered as Redis answers an unknown one, with nothing.
func fakeConfig(t *testing.T, m *miniredis.Miniredis, values map[string]string) {
	t.Helper()
	err := m.Server().Register("CONFIG", func(c *server.Peer, _ string, args []string) {
		if len(args) != 2 || !strings.EqualFold(args[0], "GET") {
			c.WriteError("ERR only CONFIG GET parameter here")
			return
		}
		v, ok := values[args[1]]
		if !ok {
			c.WriteMapLen(0)
			return
		}
		c.WriteMapLen(1)
		c.WriteBulk(args[1])
		c.WriteBulk(v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Through a Cluster client Inspect reads every master (miniredis is a Cluster of one master that
// holds every slot); through a single-server client, the server. Both see CONFIG's values.
func TestInspectReadsConfig(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		config map[string]string
		want   Durability
	}{
		{"nothing persisted", map[string]string{"appendonly": "no", "save": "", "appendfsync": "everysec", "maxmemory-policy": "noeviction"},
			Durability{Persistence: PersistenceNone, EvictionPolicy: "noeviction", Replicas: -1, Masters: 1}},
		{"snapshots", map[string]string{"appendonly": "no", "save": "3600 1 300 100", "maxmemory-policy": "allkeys-lru"},
			Durability{Persistence: PersistenceSnapshot, EvictionPolicy: "allkeys-lru", Replicas: -1, Masters: 1}},
		{"append-only file", map[string]string{"appendonly": "yes", "save": "", "appendfsync": "everysec"},
			Durability{Persistence: PersistenceAOF, AppendFsync: "everysec", Replicas: -1, Masters: 1}},
		{"save renamed away", map[string]string{"appendonly": "no"},
			Durability{Persistence: PersistenceUnknown, Replicas: -1, Masters: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := miniredis.RunT(t)
			fakeConfig(t, m, tc.config)
			single := NewClient(asynq.RedisClientOpt{Addr: m.Addr()})
			t.Cleanup(func() { _ = single.Close() })
			cluster := NewClient(asynq.RedisClusterClientOpt{Addrs: []string{m.Addr()}})
			t.Cleanup(func() { _ = cluster.Close() })
			if _, ok := cluster.(*redis.ClusterClient); !ok {
				t.Fatalf("a redis-cluster option made a %T", cluster)
			}
			for _, rdb := range []redis.UniversalClient{single, cluster} {
				d, err := Inspect(ctx, rdb)
				if err != nil {
					t.Fatalf("%T: %v", rdb, err)
				}
				if d != tc.want {
					t.Errorf("%T: %+v, want %+v", rdb, d, tc.want)
				}
			}
		})
	}
}

// A Redis that cannot be reached is an error, not an unknown durability.
func TestInspectUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := Inspect(ctx, rdb)
	if err == nil {
		t.Fatalf("Inspect of nothing = %+v, no error", d)
	}
	if d.Persistence != PersistenceUnknown || d.Replicas != -1 {
		t.Errorf("with the error: %+v, want unknown", d)
	}
}

func TestParseReplication(t *testing.T) {
	for _, tc := range []struct {
		name     string
		info     string
		role     string
		replicas int
	}{
		{"master alone (Redis 7)", "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n" +
			"master_replid:2ba274ddf9e0885b13358b822db56fbf9a657dd9\r\nmaster_repl_offset:0\r\nrepl_backlog_active:0\r\n", "master", 0},
		{"master with two replicas", "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
			"slave0:ip=10.0.0.2,port=6379,state=online,offset=1234,lag=0\r\nslave1:ip=10.0.0.3,port=6379,state=online,offset=1234,lag=1\r\n", "master", 2},
		{"replica", "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\n" +
			"slave_read_only:1\r\nconnected_slaves:0\r\n", "slave", 0},
		{"newline endings", "# Replication\nrole:master\nconnected_slaves:1\n", "master", 1},
		{"within a whole INFO", "# Server\r\nredis_version:7.0.15\r\nrole_hint:x\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:3\r\n\r\n# CPU\r\nused_cpu_sys:1.0\r\n", "master", 3},
		{"no connected_slaves", "# Replication\r\nrole:master\r\n", "master", -1},
		{"connected_slaves not a number", "role:master\r\nconnected_slaves:many\r\n", "master", -1},
		{"negative connected_slaves", "role:master\r\nconnected_slaves:-1\r\n", "master", -1},
		{"miniredis's clients section", "# Clients\nconnected_clients:3\r\n", "", -1},
		{"empty", "", "", -1},
		{"no colons", "garbage\r\nmore garbage", "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role, replicas := parseReplication(tc.info)
			if role != tc.role || replicas != tc.replicas {
				t.Fatalf("parseReplication = %q, %d; want %q, %d", role, replicas, tc.role, tc.replicas)
			}
		})
	}
}

func TestPersistenceOf(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]string
		want Persistence
	}{
		{map[string]string{"appendonly": "yes", "save": ""}, PersistenceAOF},
		{map[string]string{"appendonly": "yes"}, PersistenceAOF},
		{map[string]string{"appendonly": "yes", "save": "3600 1"}, PersistenceAOF},
		{map[string]string{"appendonly": "no", "save": ""}, PersistenceNone},
		{map[string]string{"appendonly": "no", "save": " "}, PersistenceNone},
		{map[string]string{"appendonly": "no", "save": "3600 1 300 100 60 10000"}, PersistenceSnapshot},
		{map[string]string{"appendonly": "no"}, PersistenceUnknown},
		{map[string]string{"save": ""}, PersistenceUnknown},
		{map[string]string{}, PersistenceUnknown},
	} {
		if got := persistenceOf(tc.cfg); got != tc.want {
			t.Errorf("persistenceOf(%q) = %s, want %s", tc.cfg, got, tc.want)
		}
	}
}

// The weakest master decides each part; unknown beats a good reading but not a known bad one.
func TestWeakest(t *testing.T) {
	aof := Durability{Persistence: PersistenceAOF, AppendFsync: "everysec", EvictionPolicy: "noeviction", Role: "master", Replicas: 1, Masters: 1}
	for _, tc := range []struct {
		name  string
		nodes []Durability
		want  Durability
	}{
		{"none", nil, Durability{Replicas: -1}},
		{"one", []Durability{aof}, aof},
		{"three alike", []Durability{aof, aof, aof}, func() Durability { d := aof; d.Masters = 3; return d }()},
		{"one without persistence", []Durability{aof, {Persistence: PersistenceNone, EvictionPolicy: "noeviction", Role: "master", Replicas: 2, Masters: 1}},
			Durability{Persistence: PersistenceNone, AppendFsync: "", EvictionPolicy: "noeviction", Role: "master", Replicas: 1, Masters: 2}},
		{"unknown beats aof", []Durability{aof, {Persistence: PersistenceUnknown, Role: "master", Replicas: 1, Masters: 1}},
			Durability{Persistence: PersistenceUnknown, EvictionPolicy: "", Role: "master", Replicas: 1, Masters: 2}},
		{"none beats unknown", []Durability{{Persistence: PersistenceUnknown, Replicas: -1}, {Persistence: PersistenceNone, Replicas: 0}},
			Durability{Persistence: PersistenceNone, Replicas: -1, Masters: 2}},
		{"snapshot between", []Durability{aof, {Persistence: PersistenceSnapshot, EvictionPolicy: "volatile-lru", Role: "master", Replicas: 0, Masters: 1}},
			Durability{Persistence: PersistenceSnapshot, EvictionPolicy: "volatile-lru", Role: "master", Replicas: 0, Masters: 2}},
		{"fsync no", []Durability{aof, func() Durability { d := aof; d.AppendFsync = "no"; return d }()},
			func() Durability { d := aof; d.AppendFsync = "no"; d.Masters = 2; return d }()},
		{"roles differ", []Durability{aof, func() Durability { d := aof; d.Role = "slave"; return d }()},
			func() Durability { d := aof; d.Role = ""; d.Masters = 2; return d }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := weakest(tc.nodes...); got != tc.want {
				t.Fatalf("weakest = %+v\nwant      %+v", got, tc.want)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.DeadlineExceeded, false},
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, false},
		{redisErr("ERR unknown command 'config', with args beginning with: 'get' 'appendonly'"), true},
		{redisErr("NOPERM User app has no permissions to run the 'config|get' command"), true},
		{redisErr("ERR section (replication) is not supported"), true},
		{redisErr("NOAUTH Authentication required."), false},
		{redisErr("WRONGPASS invalid username-password pair or user is disabled."), false},
		{redisErr("LOADING Redis is loading the dataset in memory"), false},
		{redisErr("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), false},
	} {
		if got := refused(tc.err); got != tc.want {
			t.Errorf("refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// redisErr is an error reply as go-redis returns it.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}
