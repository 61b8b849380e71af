package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/redisconn"
)

// Passwords of the throwaway servers, full of characters that a URL must percent-encode, so that
// the tests prove redisconn.ParseURL decodes them and never repeats them.
const (
	topoDefaultPass  = "Dq7v@Zk:/%?#&=+"
	topoUserPass     = "Wx4j@Rt:/%?#"
	topoMasterPass   = "Mh8n@Yp:/%?#"
	topoSentinelPass = "Sg2c@Lb:/%?#"
	topoClusterPass  = "Cf5w@Nz:/%?#"
	topoTLSPass      = "Tk3r@Vd:/%?#"
)

// TestRedisTopologies runs the whole pipeline on real redis-server processes in each topology
// that REDIS_URL supports: a password and an ACL user, TLS, Sentinel, and a 3-master Cluster.
// Each topology is started once, for all of its subtests, and killed at the end.
func TestRedisTopologies(t *testing.T) {
	requireRedisBinaries(t)
	dir := t.TempDir()

	t.Run("password-and-acl-user", func(t *testing.T) {
		p := startAuthServer(t, dir)
		acl := fmt.Sprintf("redis://%s@%s/2", url.UserPassword("worker", topoUserPass), p.addr())
		t.Run("pipeline", func(t *testing.T) {
			pl := runTopologyPipeline(t, acl)
			assertLedgerInDB(t, p.addr(), "", topoDefaultPass, 2, pl)
		})
		t.Run("default-user", func(t *testing.T) {
			pingURL(t, fmt.Sprintf("redis://%s@%s/0", url.UserPassword("", topoDefaultPass), p.addr()))
		})
		t.Run("refused", func(t *testing.T) {
			assertRefused(t, fmt.Sprintf("redis://%s@%s/2", url.UserPassword("worker", topoUserPass+"x"), p.addr()), "WRONGPASS")
			assertRefused(t, fmt.Sprintf("redis://%s@%s/2", url.UserPassword("", topoUserPass), p.addr()), "WRONGPASS")
			assertRefused(t, fmt.Sprintf("redis://%s/2", p.addr()), "NOAUTH")
		})
	})

	t.Run("tls", func(t *testing.T) {
		p, certs := startTLSServer(t, dir)
		pass := url.UserPassword("", topoTLSPass).String()
		t.Run("pipeline", func(t *testing.T) {
			runTopologyPipeline(t, fmt.Sprintf("rediss://%s@%s/0?tls_ca_file=%s", pass, p.addr(), url.QueryEscape(certs.caFile)))
		})
		t.Run("localhost-name", func(t *testing.T) {
			pingURL(t, fmt.Sprintf("rediss://%s@localhost:%d/0?tls_ca_file=%s", pass, p.port, url.QueryEscape(certs.caFile)))
		})
		t.Run("insecure-skip-verify", func(t *testing.T) {
			pingURL(t, fmt.Sprintf("rediss://%s@%s/0?tls_insecure_skip_verify=true", pass, p.addr()))
		})
		t.Run("unknown-ca-refused", func(t *testing.T) {
			assertRefused(t, fmt.Sprintf("rediss://%s@%s/0", pass, p.addr()), "certificate")
		})
		t.Run("plaintext-refused", func(t *testing.T) {
			// The server has no plaintext port: a redis:// client must not get through.
			assertRefused(t, fmt.Sprintf("redis://%s@%s/0", pass, p.addr()), "")
		})
	})

	t.Run("sentinel", func(t *testing.T) {
		s := startSentinels(t, dir)
		base := fmt.Sprintf("redis-sentinel://%s@%s/3?master=mymaster", url.UserPassword("", topoMasterPass), strings.Join(s.sentinelAddrs(), ","))
		good := base + "&sentinel_password=" + url.QueryEscape(topoSentinelPass)
		t.Run("pipeline", func(t *testing.T) {
			pl := runTopologyPipeline(t, good)
			assertLedgerInDB(t, s.master.addr(), "", topoMasterPass, 3, pl)
		})
		t.Run("durability", func(t *testing.T) {
			// Read through the sentinels, from the master: no persistence (baseArgs), one replica.
			assertDurability(t, good, redisconn.Durability{Persistence: redisconn.PersistenceNone, EvictionPolicy: "noeviction", Role: "master", Replicas: 1, Masters: 1})
		})
		t.Run("sentinel-password-is-not-the-master-password", func(t *testing.T) {
			// Without sentinel_password the sentinels, which want their own password, refuse.
			assertRefused(t, base, "NOAUTH")
		})
		t.Run("replicated-posting-marks", func(t *testing.T) {
			testReplicatedMarks(t, good)
		})
		t.Run("failover", func(t *testing.T) {
			testSentinelFailover(t, s, good)
		})
	})

	t.Run("cluster", func(t *testing.T) {
		nodes := startCluster(t, dir)
		addrs := make([]string, len(nodes))
		for i, n := range nodes {
			addrs[i] = n.addr()
		}
		clusterURL := fmt.Sprintf("redis-cluster://%s@%s", url.UserPassword("", topoClusterPass), strings.Join(addrs, ","))
		t.Run("one-slot", func(t *testing.T) {
			// Checked first: were our keys spread over slots, the ledger scripts would fail and the
			// pipeline would only time out.
			opt, err := redisconn.ParseURL(clusterURL)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redisconn.NewClient(opt)
			defer rdb.Close()
			assertOneSlot(t, rdb, NewKeys("cph:purchase:results"))
		})
		t.Run("pipeline", func(t *testing.T) {
			runTopologyPipeline(t, clusterURL)
		})
		t.Run("durability", func(t *testing.T) {
			// Every master is read (ForEachMaster); the three have no persistence and no replica.
			assertDurability(t, clusterURL, redisconn.Durability{Persistence: redisconn.PersistenceNone, EvictionPolicy: "noeviction", Role: "master", Replicas: 0, Masters: 3})
		})
		t.Run("one-seed-node", func(t *testing.T) {
			pingURL(t, fmt.Sprintf("redis-cluster://%s@%s/0", url.UserPassword("", topoClusterPass), addrs[1]))
		})
	})
}

// runTopologyPipeline runs the pipeline on redisURL with a handful of orders that take each path
// of asynq and of our Lua scripts we rely on: a plain purchase (enqueue, process, task result,
// GetTaskInfo), a duplicate at enqueue and a copy that reaches a worker, an order whose answer is
// lost and that is found by reconciliation, an order that fails once and is retried (asynq's
// retry set and forwarder), and one rejected (dead letter, asynq's archive) and then replayed
// (Inspector.DeleteTask and a fresh enqueue). Each order must end in one terminal result and one
// order at the simulator, and asynq must log no error.
func runTopologyPipeline(t *testing.T, redisURL string) *pipeline {
	t.Helper()
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redisconn.ParseURL: %v", err)
	}
	logs := &asynqLogRecorder{}
	var healthy atomic.Bool
	p := startPipeline(t, pipelineOptions{redis: opt, maxRetry: 3, callTimeout: 2 * time.Second, asynqLog: logs,
		sim: cphsim.Options{Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			switch {
			case c.ServerName == "topo-reconciled" && c.Seq == 1:
				return cphsim.Fault{Kind: cphsim.FaultDropAfterCommit}
			case c.ServerName == "topo-retried" && c.Seq == 1:
				return cphsim.Fault{Kind: cphsim.FaultFailBeforeCommit}
			case c.ServerName == "topo-rejected" && !healthy.Load():
				return cphsim.Fault{Kind: cphsim.FaultReject, Code: "CPS.0006"}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		}}})
	ctx := context.Background()

	names := []string{"topo-plain-1", "topo-plain-2", "topo-reconciled", "topo-retried", "topo-rejected"}
	en := map[string]EnqueueResult{}
	for _, n := range names {
		en[n] = p.submit(order(n))
		if en[n].Status != EnqueueEnqueued {
			t.Fatalf("%s: enqueue = %+v", n, en[n])
		}
	}
	if dup := p.submit(order("topo-plain-1")); dup.Status != EnqueueDuplicate || dup.TaskID != en["topo-plain-1"].TaskID {
		t.Fatalf("second enqueue = %+v, want duplicate", dup)
	}
	res := map[string]Result{}
	for _, n := range names {
		res[n] = p.wait(en[n].IdempotencyKey)
	}

	for _, n := range []string{"topo-plain-1", "topo-plain-2", "topo-reconciled", "topo-retried"} {
		r := res[n]
		if r.Status != StatusSucceeded || r.Reconciled != (n == "topo-reconciled") || len(r.ServerIDs) != 1 {
			t.Errorf("%s: result = %+v", n, r)
		}
		info := p.waitTask(en[n].TaskID)
		var stored Result
		if info.State != asynq.TaskStateCompleted || json.Unmarshal(info.Result, &stored) != nil || stored.OrderID != r.OrderID {
			t.Errorf("%s: task %v, result %s; want completed with order %s", n, info.State, info.Result, r.OrderID)
		}
		if n == "topo-retried" && info.Retried != 1 {
			t.Errorf("%s: retried %d, want 1", n, info.Retried)
		}
	}

	// A copy of a bought order that reaches a worker gets the stored result and buys nothing.
	payload, _ := json.Marshal(order("topo-plain-1"))
	p.enqueueRaw(TypePurchase, payload, "topo-copy")
	info := p.waitTask("topo-copy")
	var copyResult Result
	if err := json.Unmarshal(info.Result, &copyResult); err != nil || copyResult.OrderID != res["topo-plain-1"].OrderID {
		t.Errorf("copy: task result %s (%v), want order %s", info.Result, err, res["topo-plain-1"].OrderID)
	}

	// The rejected order: a dead letter in our records and in asynq's archive, then replayed.
	rej := en["topo-rejected"]
	if r := res["topo-rejected"]; r.Status != StatusDeadLettered || r.Error == nil || r.Error.Class != ClassRejected {
		t.Fatalf("rejected: result = %+v", r)
	}
	if info := p.waitTask(rej.TaskID); info.State != asynq.TaskStateArchived {
		t.Fatalf("rejected: task state %v, want archived", info.State)
	}
	if dl, ok, err := p.dls.Get(ctx, rej.TaskID); err != nil || !ok || dl.Class != ClassRejected {
		t.Fatalf("rejected: dead letter %+v, %v, %v", dl, ok, err)
	}
	healthy.Store(true)
	if rep, err := p.producer.replay(ctx, p.dls, p.insp, rej.TaskID, ReplayOptions{}); err != nil || rep.Status != EnqueueEnqueued {
		t.Fatalf("replay = %+v, %v", rep, err)
	}
	if r := p.wait(rej.IdempotencyKey); r.Status != StatusSucceeded {
		t.Fatalf("replayed: result = %+v", r)
	}
	if info := p.waitTask(rej.TaskID); info.State != asynq.TaskStateCompleted || info.Retried != 0 {
		t.Fatalf("replayed: task %v retried %d", info.State, info.Retried)
	}
	st, err := p.op.Status(ctx, en["topo-plain-1"].IdempotencyKey)
	if err != nil || st.State != "completed" || st.Ledger == nil || st.Ledger.State != "succeeded" {
		t.Fatalf("status = %+v, %v", st, err)
	}

	// One order each at the simulator; one terminal result each in the stream, and one
	// dead_lettered entry more for the run that was rejected.
	for _, n := range names {
		if o := p.sim.OrdersFor(n); len(o) != 1 {
			t.Errorf("%s: %d orders at the simulator, want 1", n, len(o))
		}
	}
	if n := p.sim.Stats().PurchaseCalls; n != 7 {
		t.Errorf("purchase calls = %d, want 7 (2 plain, 1 reconciled, 2 retried, 2 rejected then replayed)", n)
	}
	count := map[string]int{}
	for _, e := range p.stream() {
		count[e.IdempotencyKey+" "+e.Status]++
	}
	for _, n := range names {
		if c := count[en[n].IdempotencyKey+" "+StatusSucceeded]; c != 1 {
			t.Errorf("%s: %d succeeded entries in the stream, want 1", n, c)
		}
	}
	if c := count[rej.IdempotencyKey+" "+StatusDeadLettered]; c != 1 || len(p.stream()) != 6 {
		t.Errorf("stream = %v, want 5 succeeded and 1 dead_lettered", count)
	}

	// The fleet-wide rate limiter's script, on its own.
	if _, err := NewRateLimiter(p.tr.rdb, p.tr.keys, 1000).Wait(ctx); err != nil {
		t.Errorf("rate limiter: %v", err)
	}
	// asynq warns once when it archives a task, here the rejected order's; anything else it logs
	// is a failure of asynq on this Redis.
	var unexpected []string
	for _, l := range logs.lines() {
		if l != "WARN: Retry exhausted for task id="+rej.TaskID {
			unexpected = append(unexpected, l)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("asynq logged:\n%s", strings.Join(unexpected, "\n"))
	}
	return p
}

// asynqLogRecorder keeps asynq's warnings and errors; they are checked after the run rather than
// logged as they come, as asynq may log from its goroutines after a test has ended.
type asynqLogRecorder struct {
	mu  sync.Mutex
	all []string
}

func (r *asynqLogRecorder) add(level string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, level+": "+fmt.Sprint(args...))
}

func (r *asynqLogRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.all...)
}

func (r *asynqLogRecorder) Debug(args ...any) {}
func (r *asynqLogRecorder) Info(args ...any)  {}
func (r *asynqLogRecorder) Warn(args ...any)  { r.add("WARN", args) }
func (r *asynqLogRecorder) Error(args ...any) { r.add("ERROR", args) }
func (r *asynqLogRecorder) Fatal(args ...any) { r.add("FATAL", args) }

// assertDurability asserts what redisconn.Inspect reads through a client made from redisURL.
func assertDurability(t *testing.T, redisURL string, want redisconn.Durability) {
	t.Helper()
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redisconn.ParseURL: %v", err)
	}
	rdb := redisconn.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := redisconn.Inspect(ctx, rdb)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if got != want {
		t.Fatalf("Inspect = %+v, want %+v", got, want)
	}
}

// pingURL asserts that a client made from redisURL reaches Redis.
func pingURL(t *testing.T, redisURL string) {
	t.Helper()
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redisconn.ParseURL: %v", err)
	}
	rdb := redisconn.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// assertRefused asserts that a client made from redisURL cannot use Redis, with an error that
// names want (any error when want is empty) and repeats no password.
func assertRefused(t *testing.T, redisURL, want string) {
	t.Helper()
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redisconn.ParseURL: %v", err)
	}
	rdb := redisconn.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = rdb.Set(ctx, "topo-refused", "1", time.Minute).Err()
	if err == nil {
		t.Fatal("a client with the wrong credentials or trust got through")
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	assertNoSecret(t, err.Error())
}

// assertNoSecret fails when msg holds any of the test passwords or a 4-byte piece of one.
func assertNoSecret(t *testing.T, msg string) {
	t.Helper()
	for _, s := range []string{topoDefaultPass, topoUserPass, topoMasterPass, topoSentinelPass, topoClusterPass, topoTLSPass} {
		for i := 0; i+4 <= len(s); i++ {
			if piece := s[i : i+4]; strings.Contains(msg, piece) || strings.Contains(msg, url.QueryEscape(piece)) {
				t.Errorf("message %q holds %q, a piece of a password", msg, piece)
				return
			}
		}
	}
}

// assertLedgerInDB asserts that the pipeline's ledger lives in database db of the server at addr,
// and not in database 0: the URL's /db was honoured.
func assertLedgerInDB(t *testing.T, addr, user, pass string, db int, p *pipeline) {
	t.Helper()
	ctx := context.Background()
	key := p.tr.keys.Ledger(order("topo-plain-1").Key())
	for d, want := range map[int]int64{db: 1, 0: 0} {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pass, DB: d})
		n, err := c.Exists(ctx, key).Result()
		c.Close()
		if err != nil || n != want {
			t.Errorf("ledger key in db %d: exists %d (%v), want %d", d, n, err, want)
		}
	}
}

// assertOneSlot asserts, on a Cluster, that every key of ours is in one hash slot, the results
// stream's, so that the ledger scripts, which touch the ledger, the stream and the dead-letter
// keys together, can run there. The rate limiter's key is go-redis/redis_rate's "rate:" prefix on
// ours.
func assertOneSlot(t *testing.T, rdb redis.UniversalClient, k Keys) {
	t.Helper()
	ctx := context.Background()
	want, err := rdb.ClusterKeySlot(ctx, k.Stream()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k.Ledger("any"), k.DeadLetter("cph-any"), k.DeadLetterIndex(), k.RateLimit()} {
		if slot, err := rdb.ClusterKeySlot(ctx, key).Result(); err != nil || slot != want {
			t.Errorf("key %s is in slot %d (%v), the stream in %d", key, slot, err, want)
		}
	}
}

// startAuthServer starts a server with a password for the default user and an ACL user "worker".
func startAuthServer(t *testing.T, dir string) *redisProc {
	return startRedisProc(t, dir, procSpec{name: "auth",
		args: func(dir string, ports []int) []string {
			return append(baseArgs(dir), "--port", strconv.Itoa(ports[0]), "--requirepass", topoDefaultPass,
				"--user", "worker", "on", ">"+topoUserPass, "~*", "&*", "+@all")
		},
		ready: pingReady(&redis.Options{Password: topoDefaultPass}),
	})
}

// startTLSServer starts a server that speaks only TLS, with a certificate of a throwaway CA.
func startTLSServer(t *testing.T, dir string) (*redisProc, testCerts) {
	certs := writeTestCerts(t, dir)
	p := startRedisProc(t, dir, procSpec{name: "tls",
		args: func(dir string, ports []int) []string {
			return append(baseArgs(dir), "--port", "0", "--tls-port", strconv.Itoa(ports[0]),
				"--tls-cert-file", certs.certFile, "--tls-key-file", certs.keyFile, "--tls-ca-cert-file", certs.caFile,
				"--tls-auth-clients", "no", "--requirepass", topoTLSPass)
		},
		ready: func(ctx context.Context, p *redisProc) error {
			opt, err := redisconn.ParseURL(fmt.Sprintf("rediss://%s@%s/0?tls_ca_file=%s", url.UserPassword("", topoTLSPass), p.addr(), url.QueryEscape(certs.caFile)))
			if err != nil {
				return err
			}
			rdb := redisconn.NewClient(opt)
			defer rdb.Close()
			return rdb.Ping(ctx).Err()
		},
	})
	return p, certs
}

func pingReady(opt *redis.Options) func(ctx context.Context, p *redisProc) error {
	return func(ctx context.Context, p *redisProc) error {
		o := *opt
		o.Addr = p.addr()
		c := redis.NewClient(&o)
		defer c.Close()
		return c.Ping(ctx).Err()
	}
}

// sentinelSet is a master, its replica and three sentinels that watch them as "mymaster". The
// master and replica want topoMasterPass, the sentinels topoSentinelPass.
type sentinelSet struct {
	master, replica *redisProc
	sentinels       []*redisProc
}

func (s *sentinelSet) sentinelAddrs() []string {
	out := make([]string, len(s.sentinels))
	for i, p := range s.sentinels {
		out[i] = p.addr()
	}
	return out
}

func startSentinels(t *testing.T, dir string) *sentinelSet {
	dataArgs := func(extra ...string) func(string, []int) []string {
		return func(dir string, ports []int) []string {
			// A master syncs a replica at once instead of waiting 5s for more replicas to join.
			return append(append(baseArgs(dir), "--port", strconv.Itoa(ports[0]), "--repl-diskless-sync-delay", "0",
				"--requirepass", topoMasterPass, "--masterauth", topoMasterPass), extra...)
		}
	}
	s := &sentinelSet{}
	s.master = startRedisProc(t, dir, procSpec{name: "sentinel-master", args: dataArgs(),
		ready: pingReady(&redis.Options{Password: topoMasterPass})})
	s.replica = startRedisProc(t, dir, procSpec{name: "sentinel-replica", args: dataArgs("--replicaof", "127.0.0.1", strconv.Itoa(s.master.port)),
		ready: func(ctx context.Context, p *redisProc) error {
			c := redis.NewClient(&redis.Options{Addr: p.addr(), Password: topoMasterPass})
			defer c.Close()
			info, err := c.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica not linked yet")
			}
			return nil
		}})
	for i := range 3 {
		s.sentinels = append(s.sentinels, startRedisProc(t, dir, procSpec{name: fmt.Sprintf("sentinel-%d", i+1),
			args: func(dir string, ports []int) []string {
				conf := filepath.Join(dir, "sentinel.conf")
				body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile \"\"\n"+
					"sentinel monitor mymaster 127.0.0.1 %d 2\n"+
					"sentinel auth-pass mymaster %s\n"+
					"sentinel down-after-milliseconds mymaster 2000\n"+
					"sentinel failover-timeout mymaster 10000\n"+
					"requirepass %s\nsentinel sentinel-pass %s\n",
					ports[0], dir, s.master.port, topoMasterPass, topoSentinelPass, topoSentinelPass)
				if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{conf, "--sentinel"}
			},
			ready: func(ctx context.Context, p *redisProc) error {
				c := redis.NewSentinelClient(&redis.Options{Addr: p.addr(), Password: topoSentinelPass})
				defer c.Close()
				addr, err := c.GetMasterAddrByName(ctx, "mymaster").Result()
				if err != nil {
					return err
				}
				if len(addr) != 2 || addr[1] != strconv.Itoa(s.master.port) {
					return fmt.Errorf("sentinel names master %v", addr)
				}
				return nil
			},
		}))
	}
	return s
}

// testSentinelFailover makes a sentinel promote the replica while a worker runs, and checks that
// the worker follows the new master: an order bought before is still known, one after is bought
// once. Writes that reach the old master after the promotion and before the sentinels demote it
// (up to 10s later) are lost, as replication is asynchronous (README), so the order after is
// submitted once the worker's client has moved to the new master, which go-redis does when the
// sentinels announce +switch-master.
func testSentinelFailover(t *testing.T, s *sentinelSet, redisURL string) {
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, pipelineOptions{redis: opt, maxRetry: 5})
	ctx := context.Background()
	before := p.submit(order("failover-before"))
	p.wait(before.IdempotencyKey)

	// Every write so far is on the replica before it is promoted.
	master := redis.NewClient(&redis.Options{Addr: s.master.addr(), Password: topoMasterPass})
	defer master.Close()
	if n, err := master.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinels[0].addr(), Password: topoSentinelPass})
	defer sc.Close()
	// A sentinel learns of the replica from the master's INFO; until it has, it has no one to promote.
	steps := []struct {
		what  string
		check func() error
	}{
		{"SENTINEL FAILOVER", func() error { return sc.Failover(ctx, "mymaster").Err() }},
		{"the sentinels name the replica as master", func() error {
			addr, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
			if err == nil && addr[1] != strconv.Itoa(s.replica.port) {
				err = fmt.Errorf("master is still %v", addr)
			}
			return err
		}},
		{"the worker's client writes to the new master", func() error {
			return infoHas(ctx, p.tr.rdb, "tcp_port:"+strconv.Itoa(s.replica.port))
		}},
	}
	for _, st := range steps {
		if err := waitFor(30*time.Second, nil, st.check); err != nil {
			t.Fatalf("failover: %s: %v", st.what, err)
		}
	}

	if dup := p.submit(order("failover-before")); dup.Status != EnqueueDuplicate {
		t.Fatalf("the order bought before the failover is unknown after it: %+v", dup)
	}
	after := p.submit(order("failover-after"))
	if r := p.wait(after.IdempotencyKey); r.Status != StatusSucceeded {
		t.Fatalf("after failover: %+v", r)
	}
	for _, n := range []string{"failover-before", "failover-after"} {
		if o := p.sim.OrdersFor(n); len(o) != 1 {
			t.Errorf("%s: %d orders, want 1", n, len(o))
		}
	}
}

// infoHas answers nil when the server rdb talks to reports every one of wants in INFO.
func infoHas(ctx context.Context, rdb redis.UniversalClient, wants ...string) error {
	info, err := rdb.Info(ctx, "server", "replication").Result()
	if err != nil {
		return err
	}
	for _, w := range wants {
		if !strings.Contains(info, w+"\r\n") {
			return fmt.Errorf("INFO lacks %s", w)
		}
	}
	return nil
}

// startCluster starts three masters and joins them into a Cluster with redis-cli --cluster create.
func startCluster(t *testing.T, dir string) []*redisProc {
	nodes := make([]*redisProc, 3)
	for i := range nodes {
		nodes[i] = startRedisProc(t, dir, procSpec{name: fmt.Sprintf("cluster-%d", i+1), ports: 2,
			args: func(dir string, ports []int) []string {
				return append(baseArgs(dir), "--port", strconv.Itoa(ports[0]), "--cluster-port", strconv.Itoa(ports[1]),
					"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
					"--requirepass", topoClusterPass, "--masterauth", topoClusterPass)
			},
			ready: pingReady(&redis.Options{Password: topoClusterPass}),
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"--cluster", "create"}
	for _, n := range nodes {
		args = append(args, n.addr())
	}
	cmd := exec.CommandContext(ctx, "redis-cli", append(args, "--cluster-replicas", "0", "--cluster-yes")...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+topoClusterPass)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr(), Password: topoClusterPass})
		err := waitFor(30*time.Second, n.exited, func() error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return fmt.Errorf("cluster not ready:\n%s", info)
			}
			return nil
		})
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
	}
	return nodes
}

// testReplicatedMarks runs the pipeline with posting marks that must reach replicas: with the one
// replica the set has, orders are bought; asking for two, no purchase call goes out at all.
func testReplicatedMarks(t *testing.T, redisURL string) {
	opt, err := redisconn.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("one-replica-acknowledges", func(t *testing.T) {
		p := startPipeline(t, pipelineOptions{redis: opt, maxRetry: 3, minReplicas: 1})
		en := p.submit(order("replicated-1"))
		if r := p.wait(en.IdempotencyKey); r.Status != StatusSucceeded {
			t.Fatalf("result = %+v", r)
		}
	})
	t.Run("two-replicas-cannot", func(t *testing.T) {
		p := startPipeline(t, pipelineOptions{redis: opt, maxRetry: 3, minReplicas: 2})
		en := p.submit(order("replicated-2"))
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			if n := p.sim.Stats().PurchaseCalls; n != 0 {
				t.Fatalf("purchase calls = %d: a call went out on a mark no second replica holds", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.srv.Shutdown() // let the attempt in flight finish before reading the ledger
		e, _, err := p.ledger.Get(context.Background(), en.IdempotencyKey)
		if err != nil || e.Posting || e.Attempts != 0 || !strings.Contains(e.LastError, "replicas") {
			t.Fatalf("ledger = %+v, %v; want no mark, no attempt, the reason kept", e, err)
		}
	})
}
