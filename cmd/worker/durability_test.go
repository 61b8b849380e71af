package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// LEDGER_MIN_REPLICAS as the worker applies it: given (0 included) it wins; not given, it is 1 on
// a master with a replica connected and 0 otherwise.
func TestLedgerMinReplicas(t *testing.T) {
	master := func(replicas int) redisconn.Durability {
		return redisconn.Durability{Persistence: redisconn.PersistenceAOF, Role: "master", Replicas: replicas, Masters: 1}
	}
	unknown := redisconn.Durability{Replicas: -1, Masters: 1}
	replica := redisconn.Durability{Role: "slave", Replicas: 1, Masters: 1}
	for _, tc := range []struct {
		name        string
		env         map[string]string
		args        []string
		redis       redisconn.Durability
		want        int
		wantDerived bool
		wantErr     string
	}{
		{name: "not set, master with a replica", redis: master(1), want: 1, wantDerived: true},
		{name: "not set, master with three replicas", redis: master(3), want: 1, wantDerived: true},
		{name: "not set, master alone", redis: master(0), want: 0},
		{name: "not set, replication unknown (INFO refused, or Redis unreachable)", redis: unknown, want: 0},
		{name: "not set, REDIS_URL names a replica", redis: replica, want: 0},
		{name: "set empty is not set", env: map[string]string{"LEDGER_MIN_REPLICAS": ""}, redis: master(1), want: 1, wantDerived: true},
		{name: "0 in the environment wins", env: map[string]string{"LEDGER_MIN_REPLICAS": "0"}, redis: master(1), want: 0},
		{name: "2 in the environment wins", env: map[string]string{"LEDGER_MIN_REPLICAS": "2"}, redis: master(1), want: 2},
		{name: "2 on a master alone stays 2", env: map[string]string{"LEDGER_MIN_REPLICAS": "2"}, redis: master(0), want: 2},
		{name: "flag 0 wins", args: []string{"--ledger-min-replicas", "0"}, redis: master(1), want: 0},
		{name: "flag wins over the environment", env: map[string]string{"LEDGER_MIN_REPLICAS": "2"}, args: []string{"--ledger-min-replicas=0"}, redis: master(2), want: 0},
		{name: "malformed environment", env: map[string]string{"LEDGER_MIN_REPLICAS": "one"}, wantErr: `LEDGER_MIN_REPLICAS="one" is not a whole number`},
		{name: "malformed flag", args: []string{"--ledger-min-replicas", "one"}, wantErr: `"one" is not a whole number`},
		{name: "negative", env: map[string]string{"LEDGER_MIN_REPLICAS": "-1"}, wantErr: "LEDGER_MIN_REPLICAS must be at least 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "CPH_ENDPOINT": "http://127.0.0.1:1", "CPH_TOKEN": "t"}
			for k, v := range tc.env {
				env[k] = v
			}
			var c config
			fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
			err := bindFlags(fs, &c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err == nil {
				if err = fs.Parse(tc.args); err == nil {
					err = c.check()
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, derived := ledgerMinReplicas(c.MinReplicas, c.MinReplicasSet, tc.redis)
			if got != tc.want || derived != tc.wantDerived {
				t.Fatalf("ledgerMinReplicas = %d (derived %v), want %d (derived %v)", got, derived, tc.want, tc.wantDerived)
			}
		})
	}
}

// logLine is one JSON line of the worker's log.
type logLine struct {
	Level             string `json:"level"`
	Message           string `json:"message"`
	Persistence       string `json:"persistence"`
	Replicas          *int   `json:"replicas"`
	LedgerMinReplicas *int   `json:"ledger_min_replicas"`
	Addr              string `json:"addr"`
}

func logLines(t *testing.T, s string) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// find returns the first line with the message, nil when there is none.
func find(lines []logLine, msg string) *logLine {
	for i := range lines {
		if lines[i].Message == msg {
			return &lines[i]
		}
	}
	return nil
}

// Each way in which the ledger's Redis may lose writes has its warning, and a Redis that keeps
// everything gets none.
func TestLogDurability(t *testing.T) {
	aof := redisconn.Durability{Persistence: redisconn.PersistenceAOF, AppendFsync: "everysec", EvictionPolicy: "noeviction", Role: "master", Replicas: 0, Masters: 1}
	with := func(f func(*redisconn.Durability)) redisconn.Durability { d := aof; f(&d); return d }
	for _, tc := range []struct {
		name        string
		d           redisconn.Durability
		minReplicas int
		derived     bool
		warn        []string // the warnings, in order
		info        []string // the info lines other than the reading
	}{
		{name: "append-only file, noeviction", d: aof},
		{name: "nothing persisted", d: with(func(d *redisconn.Durability) { d.Persistence, d.AppendFsync = redisconn.PersistenceNone, "" }), warn: []string{msgNoPersistence}},
		{name: "snapshots only", d: with(func(d *redisconn.Durability) { d.Persistence, d.AppendFsync = redisconn.PersistenceSnapshot, "" }), warn: []string{msgSnapshotOnly}},
		{name: "CONFIG refused", d: redisconn.Durability{Role: "master", Replicas: 1, Masters: 1}, info: []string{msgUnknownPersistence}},
		{name: "appendfsync no", d: with(func(d *redisconn.Durability) { d.AppendFsync = "no" }), warn: []string{msgFsyncNo}},
		{name: "evicting", d: with(func(d *redisconn.Durability) { d.EvictionPolicy = "volatile-lru" }), warn: []string{msgEviction}},
		{name: "nothing persisted and evicting", d: with(func(d *redisconn.Durability) {
			d.Persistence, d.EvictionPolicy = redisconn.PersistenceNone, "allkeys-lru"
		}), warn: []string{msgNoPersistence, msgEviction}},
		{name: "default of one replica", d: with(func(d *redisconn.Durability) { d.Replicas = 2 }), minReplicas: 1, derived: true, info: []string{msgDefaultReplicas}},
		{name: "more replicas asked than connected", d: with(func(d *redisconn.Durability) { d.Replicas = 1 }), minReplicas: 2, warn: []string{msgTooFewReplicas}},
		{name: "replicas unknown", d: with(func(d *redisconn.Durability) { d.Replicas = -1 }), minReplicas: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logDurability(zerolog.New(&buf), tc.d, config{MinReplicas: tc.minReplicas}, tc.derived)
			var warn, info []string
			lines := logLines(t, buf.String())
			for _, l := range lines {
				switch {
				case l.Level == "warn":
					warn = append(warn, l.Message)
				case l.Level == "info" && l.Message != "ledger Redis durability":
					info = append(info, l.Message)
				}
				if l.Persistence != tc.d.Persistence.String() || l.LedgerMinReplicas == nil || *l.LedgerMinReplicas != tc.minReplicas {
					t.Errorf("line %q lacks the reading: persistence %q, ledger_min_replicas %v", l.Message, l.Persistence, l.LedgerMinReplicas)
				}
			}
			if strings.Join(warn, "\n") != strings.Join(tc.warn, "\n") {
				t.Errorf("warnings:\n%q\nwant\n%q", warn, tc.warn)
			}
			if strings.Join(info, "\n") != strings.Join(tc.info, "\n") {
				t.Errorf("info:\n%q\nwant\n%q", info, tc.info)
			}
			if find(lines, "ledger Redis durability") == nil {
				t.Error("no line with the reading")
			}
		})
	}
}

// fakeConfig gives a miniredis the CONFIG GET that it lacks, answering from values.
func fakeConfig(t *testing.T, m *miniredis.Miniredis, values map[string]string) {
	t.Helper()
	err := m.Server().Register("CONFIG", func(c *server.Peer, _ string, args []string) {
		v, ok := values[args[len(args)-1]]
		if len(args) != 2 || !strings.EqualFold(args[0], "GET") || !ok {
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

// startedWorker is `worker` run through execute, as main runs it, until stop.
type startedWorker struct {
	logs          *testkit.SyncBuffer
	metrics       string // URL of /metrics
	queue, stream string // PURCHASE_QUEUE and RESULTS_STREAM, the test's own
	stop          func()
}

const durabilityProject = "0b1c0000000000000000000durability"

// startWorker runs the worker's command line with env as its environment, against the simulator,
// and waits until it has started.
func startWorker(t *testing.T, env map[string]string) *startedWorker {
	t.Helper()
	sim := httptest.NewServer(cphsim.New(cphsim.Options{}))
	t.Cleanup(sim.Close)
	id := testkit.RandomID()
	full := map[string]string{
		"CPH_ENDPOINT": sim.URL, "CPH_TOKEN": "tok", "CPH_PROJECT_ID": durabilityProject,
		"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info", "PURCHASE_QUEUE": "durability-" + id,
		"RESULTS_STREAM": "durability:" + id + ":results", "SHUTDOWN_TIMEOUT": "1s",
	}
	for k, v := range env {
		full[k] = v
	}
	sw := &startedWorker{logs: &testkit.SyncBuffer{}, queue: full["PURCHASE_QUEUE"], stream: full["RESULTS_STREAM"]}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, nil, &bytes.Buffer{}, sw.logs, func(k string) (string, bool) { v, ok := full[k]; return v, ok })
	}()
	stopped := false
	sw.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("worker exited %d:\n%s", code, sw.logs.String())
		}
	}
	t.Cleanup(sw.stop)
	testkit.Eventually(t, "the worker to start", func() bool {
		select {
		case code := <-done:
			stopped = true
			t.Fatalf("worker exited %d before it started:\n%s", code, sw.logs.String())
		default:
		}
		return strings.Contains(sw.logs.String(), `"message":"worker started"`)
	})
	serving := find(logLines(t, sw.logs.String()), "serving /healthz, /readyz and /metrics")
	if serving == nil {
		t.Fatalf("no HTTP address in the log:\n%s", sw.logs.String())
	}
	sw.metrics = "http://" + serving.Addr + "/metrics"
	return sw
}

// The worker's start says, in a warning, what a Redis without persistence can lose and what to
// configure, and exports the persistence and the replicas; a Redis with an append-only file gets
// no warning. miniredis stands in for Redis, with the CONFIG GET answers that a real one gives.
func TestStartWarnsAboutRedisWithoutPersistence(t *testing.T) {
	for _, tc := range []struct {
		name            string
		config          map[string]string // nil: no CONFIG command, as miniredis (and managed Redis)
		warn            string
		wantPersistence string
	}{
		{"nothing persisted", map[string]string{"appendonly": "no", "save": "", "maxmemory-policy": "noeviction"}, msgNoPersistence, "0"},
		{"append-only file", map[string]string{"appendonly": "yes", "save": "", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}, "", "1"},
		{"CONFIG refused", nil, "", "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := miniredis.RunT(t)
			if tc.config != nil {
				fakeConfig(t, m, tc.config)
			}
			sw := startWorker(t, map[string]string{"REDIS_URL": "redis://" + m.Addr() + "/0"})
			lines := logLines(t, sw.logs.String())
			var warnings []string
			for _, l := range lines {
				if l.Level == "warn" {
					warnings = append(warnings, l.Message)
				}
			}
			if tc.warn == "" && len(warnings) > 0 {
				t.Errorf("warnings %q, want none", warnings)
			}
			if tc.warn != "" {
				w := find(lines, tc.warn)
				if w == nil || w.Level != "warn" {
					t.Fatalf("no warning %q in:\n%s", tc.warn, sw.logs.String())
				}
				for _, say := range []string{"restart of Redis forgets the ledger", "purchase call in flight", "may buy again", "appendonly yes", "everysec", "LEDGER_MIN_REPLICAS"} {
					if !strings.Contains(w.Message, say) {
						t.Errorf("the warning does not say %q: %s", say, w.Message)
					}
				}
			}
			body := get(t, sw.metrics, 200)
			if missing := missingLines(body, []string{
				"cph_purchase_ledger_redis_persistence " + tc.wantPersistence,
				"cph_purchase_ledger_redis_replicas -1", // miniredis has no INFO replication
			}); len(missing) > 0 {
				t.Errorf("/metrics lacks %q", missing)
			}
		})
	}
}

// On the machine's Redis (REDIS_URL, CI's has no persistence) the worker says what Inspect reads,
// and warns when nothing is persisted.
func TestStartOnTheMachinesRedis(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: TestStartWarnsAboutRedisWithoutPersistence covers the start on miniredis")
	}
	opt, err := redisconn.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisconn.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	want, err := redisconn.Inspect(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	sw := startWorker(t, map[string]string{"REDIS_URL": url})
	lines := logLines(t, sw.logs.String())
	reading := find(lines, "ledger Redis durability")
	if reading == nil || reading.Persistence != want.Persistence.String() || reading.Replicas == nil || *reading.Replicas != want.Replicas {
		t.Fatalf("reading %+v, want persistence %s and %d replicas:\n%s", reading, want.Persistence, want.Replicas, sw.logs.String())
	}
	if w := find(lines, msgNoPersistence); (w != nil) != (want.Persistence == redisconn.PersistenceNone) {
		t.Fatalf("persistence %s, warning %v:\n%s", want.Persistence, w != nil, sw.logs.String())
	}
}

// redisServerBin is redis-server; without it the test is skipped, unless CI=true.
func redisServerBin(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("redis-server is not installed, and CI=true: install Debian's redis-server (%v)", err)
	}
	t.Skipf("redis-server is not installed (%v)", err)
	return ""
}

// startRedisServer runs a redis-server of the test's own on a free loopback port, with args after
// the common ones, and returns its address once it answers.
func startRedisServer(t *testing.T, args ...string) string {
	t.Helper()
	bin := redisServerBin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	var out testkit.SyncBuffer
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--daemonize", "no", "--logfile", "", "--save", "", "--appendonly", "no"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + port
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(20 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %s did not start:\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr
}

// On a real master with a replica, a worker without LEDGER_MIN_REPLICAS starts with 1, says so,
// exports the replica, and buys with each posting mark acknowledged by the replica; given 0, it
// keeps 0.
func TestStartDefaultsMinReplicasOnAMasterWithAReplica(t *testing.T) {
	master := startRedisServer(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(master)
	startRedisServer(t, "--replicaof", host, port)
	rdb := redis.NewClient(&redis.Options{Addr: master})
	t.Cleanup(func() { _ = rdb.Close() })
	testkit.Eventually(t, "the replica to be online", func() bool {
		info, err := rdb.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	url := "redis://" + master + "/0"

	t.Run("not set", func(t *testing.T) {
		sw := startWorker(t, map[string]string{"REDIS_URL": url})
		lines := logLines(t, sw.logs.String())
		if l := find(lines, msgDefaultReplicas); l == nil || l.Level != "info" {
			t.Fatalf("no line saying LEDGER_MIN_REPLICAS defaults to 1:\n%s", sw.logs.String())
		}
		if l := find(lines, "worker started"); l == nil || l.LedgerMinReplicas == nil || *l.LedgerMinReplicas != 1 {
			t.Fatalf("worker started with %+v, want ledger_min_replicas 1", l)
		}
		if find(lines, msgNoPersistence) == nil {
			t.Errorf("no warning about the master's missing persistence:\n%s", sw.logs.String())
		}
		if missing := missingLines(get(t, sw.metrics, 200), []string{
			"cph_purchase_ledger_redis_persistence 0", "cph_purchase_ledger_redis_replicas 1",
		}); len(missing) > 0 {
			t.Errorf("/metrics lacks %q", missing)
		}
		// A purchase goes through: its posting mark reached the replica (WAIT 1).
		res := enqueueAndWait(t, config{
			RedisURL: url, Queue: sw.queue, ResultsStream: sw.stream, ProjectID: durabilityProject,
		}, "replicated-"+testkit.RandomID())
		if res.Status != tasks.StatusSucceeded {
			t.Fatalf("result = %+v", res)
		}
	})
	t.Run("set to 0", func(t *testing.T) {
		sw := startWorker(t, map[string]string{"REDIS_URL": url, "LEDGER_MIN_REPLICAS": "0"})
		lines := logLines(t, sw.logs.String())
		if find(lines, msgDefaultReplicas) != nil {
			t.Errorf("the default was applied over LEDGER_MIN_REPLICAS=0:\n%s", sw.logs.String())
		}
		if l := find(lines, "worker started"); l == nil || l.LedgerMinReplicas == nil || *l.LedgerMinReplicas != 0 {
			t.Fatalf("worker started with %+v, want ledger_min_replicas 0", l)
		}
	})
}

// gaugeValues gathers c and returns each gauge's value by name.
func gaugeValues(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// The durability gauges: -1 until Redis is read, then its reading, kept through a Redis outage,
// and Redis read at most once per durabilityEvery however often they are scraped.
func TestDurabilityCollector(t *testing.T) {
	const persistence, replicas = "cph_purchase_ledger_redis_persistence", "cph_purchase_ledger_redis_replicas"
	m := miniredis.RunT(t)
	fakeConfig(t, m, map[string]string{"appendonly": "yes", "appendfsync": "everysec"})
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	now := time.Now()

	// Started without a reading (Redis was away): the first scrape reads.
	c := newDurabilityCollector(rdb, zerolog.Nop(), nil)
	c.now = func() time.Time { return now }
	if got := gaugeValues(t, c); got[persistence] != 1 || got[replicas] != -1 {
		t.Fatalf("first scrape: %v, want persistence 1 and replicas -1", got)
	}
	commands := m.CommandCount()
	gaugeValues(t, c)
	if n := m.CommandCount() - commands; n != 0 {
		t.Fatalf("a second scrape within %s sent %d commands to Redis", durabilityEvery, n)
	}
	// Redis goes away: the reading stays.
	m.Close()
	now = now.Add(durabilityEvery + time.Second)
	if got := gaugeValues(t, c); got[persistence] != 1 {
		t.Fatalf("with Redis away: %v, want the last reading", got)
	}

	// Started with a reading: it serves scrapes until it is old.
	initial := redisconn.Durability{Persistence: redisconn.PersistenceNone, Role: "master", Replicas: 2, Masters: 1}
	c = newDurabilityCollector(rdb, zerolog.Nop(), &initial)
	if got := gaugeValues(t, c); got[persistence] != 0 || got[replicas] != 2 {
		t.Fatalf("from the start's reading: %v, want persistence 0 and replicas 2", got)
	}
	// Never read: unknown.
	c = newDurabilityCollector(rdb, zerolog.Nop(), nil)
	if got := gaugeValues(t, c); got[persistence] != -1 || got[replicas] != -1 {
		t.Fatalf("never read: %v, want -1 and -1", got)
	}
}
