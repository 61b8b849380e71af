package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"cphpurchase/internal/tasks"
)

var chaosSeedFlag = flag.Int64("seed", 0, "seed of the chaos run: order mix, simulator faults, kill schedule (default $CHAOS_SEED, else the clock)")

// The chaos run's shape. Its bound is the longest it may take from start to verdict: about 70 s of
// storm while the orders are bought (400 at 5/s take 80 s), up to four minutes for them to drain
// (a SIGKILLed worker's tasks come back only after asynq's lease and recoverer, 60–90 s), up to two
// for the replayed dead letters. Runs on the 2-core machine take 2–3 minutes.
const (
	chaosWorkers     = 3
	chaosOrderCount  = 400
	chaosRateLimit   = 5
	chaosMaxRetry    = 5
	chaosBound       = 9 * time.Minute
	chaosIAMUser     = "chaos-buyer"
	chaosIAMDomain   = "chaos-account"
	chaosIAMPassword = "chaos-iam-password"
)

// chaosOrder is one order of the run and how it was submitted.
type chaosOrder struct {
	key, name string
	order     *tasks.Order
	wave      int
	invalid   bool // breaks the API's rules, enqueued raw: must end dead-lettered as invalid
	dupKey    bool // enqueued a second time through the producer: must be reported a duplicate
	rawCopy   bool // also enqueued raw under another task id: must not buy a second time
}

// chaosRun is the state of one run, shared by the storm, the enqueuer and the checks.
type chaosRun struct {
	t        *testing.T
	seed     int64
	start    time.Time
	tr       *testRedis
	rs       *redisServer
	sim      *sim
	ps       *procs
	env      map[string]string
	producer *tasks.Producer
	insp     *asynq.Inspector
	client   *asynq.Client
	orders   []*chaosOrder

	mu      sync.Mutex
	workers [chaosWorkers]*proc
	counts  map[string]int // what the storm did, by action
}

// TestChaos runs three workers, a Redis of its own and a faulty simulator, submits a few hundred
// orders with duplicates among them, and meanwhile kills and restarts workers, stops one
// gracefully, restarts Redis, takes the API down and expires the IAM tokens. Then every order must
// have exactly one terminal result, no name may be bought twice, every dead letter must replay to
// a terminal result and the fleet must never have exceeded its rate limit. Only with CHAOS=1.
func TestChaos(t *testing.T) {
	if os.Getenv("CHAOS") != "1" {
		t.Skip("the chaos suite runs with CHAOS=1 (make chaos)")
	}
	c := newChaosRun(t)
	t.Logf("chaos seed=%d (repeat with CHAOS_SEED=%d); bound %s", c.seed, c.seed, chaosBound)

	for i := range chaosWorkers {
		c.startWorker(i)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.enqueueAll() }()
	c.storm()
	wg.Wait()
	c.logf("storm over; waiting for every order to end")

	c.drain(c.keys(), 4*time.Minute)
	replayed, problems := c.replayDeadLetters()
	c.check(replayed, problems)
}

func newChaosRun(t *testing.T) *chaosRun {
	seed := *chaosSeedFlag
	if seed == 0 {
		if s := os.Getenv("CHAOS_SEED"); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("CHAOS_SEED=%q: %v", s, err)
			}
			seed = v
		} else {
			seed = time.Now().UnixNano() % 1_000_000
		}
	}
	c := &chaosRun{t: t, seed: seed, start: time.Now(), ps: newProcs(t), counts: map[string]int{}}
	c.rs = startRedisServer(t, c.ps)
	c.tr = newTestRedisAt(t, c.rs.url(), false)
	c.sim = startSimProcess(t, c.ps, []string{
		"--seed", fmt.Sprint(seed), "--latency", "20ms",
		"--throttle-rate", "0.05", "--fail-before-rate", "0.04", "--fail-after-rate", "0.04",
		"--hang-rate", "0.03", "--hang-for", "20s", "--drop-rate", "0.03", "--reject-rate", "0.02",
		"--rate-limit", fmt.Sprint(chaosRateLimit),
		"--iam-user", chaosIAMUser, "--iam-domain", chaosIAMDomain,
	}, map[string]string{"CPHSIM_IAM_PASSWORD": chaosIAMPassword})
	c.env = workerEnv(c.tr, c.sim.url, map[string]string{
		"IAM_ENDPOINT": c.sim.url, "IAM_USERNAME": chaosIAMUser, "IAM_PASSWORD": chaosIAMPassword, "IAM_DOMAIN": chaosIAMDomain,
		"CPH_RATE_LIMIT": fmt.Sprint(chaosRateLimit), "WORKER_CONCURRENCY": "8",
		"CPH_TIMEOUT": "2s", "RECONCILE_GRACE": "1s", "RETRY_BASE_DELAY": "200ms", "RETRY_MAX_DELAY": "2s",
		"SHUTDOWN_TIMEOUT": "4s",
	})
	delete(c.env, "CPH_TOKEN") // IAM is the one credential source
	c.producer, c.insp = c.tr.producer(t, chaosMaxRetry)
	c.client = asynq.NewClientFromRedisClient(c.tr.rdb)
	c.orders = chaosOrders(seed)
	return c
}

// chaosOrders is the seeded order mix: one, two or three servers an order, a fifth with a derived
// key, and duplicates and invalid orders among them.
func chaosOrders(seed int64) []*chaosOrder {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x0c4a05))
	out := make([]*chaosOrder, chaosOrderCount)
	for i := range out {
		name := fmt.Sprintf("chaos-%03d", i)
		o := newOrder(fmt.Sprintf("chaos/%d/%03d", seed, i), name)
		co := &chaosOrder{name: name, order: o}
		switch r := rng.Float64(); {
		case r < 0.12:
			*o.Request.Count = 2
		case r < 0.20:
			*o.Request.Count = 3
		}
		if rng.Float64() < 0.2 {
			o.IdempotencyKey = "" // derived from the project and the request
		}
		switch r := rng.Float64(); {
		case r < 0.45:
			co.wave = 0
		case r < 0.80:
			co.wave = 1
		default:
			co.wave = 2
		}
		co.dupKey = rng.Float64() < 0.08
		co.rawCopy = rng.Float64() < 0.06
		if i%97 == 13 { // two or three invalid orders, at seeded places in the waves
			co.invalid = true
			o.IdempotencyKey = fmt.Sprintf("chaos/%d/%03d", seed, i)
			*o.Request.Count = 11
		}
		co.key = o.Key()
		out[i] = co
	}
	return out
}

func (c *chaosRun) keys() []string {
	keys := make([]string, len(c.orders))
	for i, o := range c.orders {
		keys[i] = o.key
	}
	return keys
}

func (c *chaosRun) logf(format string, args ...any) {
	c.t.Logf("[%6.1fs] %s", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

func (c *chaosRun) count(action string) {
	c.mu.Lock()
	c.counts[action]++
	c.mu.Unlock()
}

// startWorker starts worker i (again).
func (c *chaosRun) startWorker(i int) {
	w := startWorker(c.t, c.ps, fmt.Sprintf("worker-%d", i), c.env)
	c.mu.Lock()
	c.workers[i] = w
	c.mu.Unlock()
}

// wavesAt are the times, from the start, at which each wave of orders is enqueued.
var wavesAt = [...]time.Duration{0, 20 * time.Second, 40 * time.Second}

// enqueueAll submits the orders wave by wave while the storm goes on; a submission that meets a
// Redis restart is retried.
func (c *chaosRun) enqueueAll() {
	for wave, at := range wavesAt {
		time.Sleep(time.Until(c.start.Add(at)))
		n := 0
		for i, o := range c.orders {
			if o.wave != wave {
				continue
			}
			n++
			if o.invalid {
				c.enqueueRaw(o, tasks.TaskID(o.key))
				continue
			}
			c.submit(o, tasks.EnqueueEnqueued)
			if o.dupKey {
				c.submit(o, tasks.EnqueueDuplicate)
			}
			if o.rawCopy {
				c.enqueueRaw(o, fmt.Sprintf("raw-copy-%03d", i))
			}
		}
		c.logf("wave %d: %d orders enqueued", wave, n)
	}
}

// submit enqueues o through the producer, retrying while Redis is away, and checks the status it
// reports. A retry after an error may find its own earlier attempt and say "duplicate".
func (c *chaosRun) submit(o *chaosOrder, want string) {
	retried := false
	for range 120 {
		r, err := c.producer.Enqueue(context.Background(), o.order)
		if err == nil {
			if r.Status != want && !(retried && r.Status == tasks.EnqueueDuplicate) {
				c.t.Errorf("enqueue %s: status %s, want %s", o.key, r.Status, want)
			}
			return
		}
		retried = true
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Errorf("enqueue %s: Redis did not come back within a minute", o.key)
}

// enqueueRaw puts o's payload on the queue under taskID, as a producer that skips validation and
// the duplicate check would; the retry budget is the producer's.
func (c *chaosRun) enqueueRaw(o *chaosOrder, taskID string) {
	payload, err := json.Marshal(o.order)
	if err != nil {
		c.t.Errorf("encode %s: %v", o.key, err)
		return
	}
	for range 120 {
		_, err := c.client.Enqueue(asynq.NewTask(tasks.TypePurchase, payload), asynq.Queue(c.tr.queue),
			asynq.TaskID(taskID), asynq.MaxRetry(chaosMaxRetry+1), asynq.Retention(24*time.Hour))
		if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Errorf("enqueue raw %s: Redis did not come back within a minute", taskID)
}

// storm runs the seeded schedule of faults: each action starts 5–9 s after the previous one, so
// that all of them fall while the fleet still has orders to buy (400 orders at 5/s take 80 s).
func (c *chaosRun) storm() {
	rng := rand.New(rand.NewPCG(uint64(c.seed), 0x570e11))
	actions := []string{"kill", "kill", "kill", "term", "redis-restart", "api-outage", "expire-tokens", "expire-tokens", "expire-tokens"}
	rng.Shuffle(len(actions), func(i, j int) { actions[i], actions[j] = actions[j], actions[i] })
	at := 5 * time.Second
	for _, a := range actions {
		time.Sleep(time.Until(c.start.Add(at)))
		at += 5*time.Second + jitter(rng, 4*time.Second)
		i := rng.IntN(chaosWorkers)
		c.mu.Lock()
		w := c.workers[i]
		c.mu.Unlock()
		switch a {
		case "kill":
			pause := jitter(rng, 3*time.Second)
			c.logf("SIGKILL %s, restart after %s", w.name, pause.Round(time.Millisecond))
			w.kill()
			if _, ok := w.wait(10 * time.Second); !ok {
				c.t.Fatalf("%s survived SIGKILL", w.name)
			}
			time.Sleep(pause)
			c.startWorker(i)
		case "term":
			c.logf("SIGTERM %s", w.name)
			w.signal(syscall.SIGTERM)
			code, ok := w.wait(4*time.Second + 30*time.Second)
			if !ok || code != 0 {
				c.t.Errorf("%s after SIGTERM: exit code %d, exited %v; want 0 within SHUTDOWN_TIMEOUT", w.name, code, ok)
				w.kill()
				w.wait(10 * time.Second)
			}
			c.startWorker(i)
		case "redis-restart":
			down := time.Second + jitter(rng, 2*time.Second)
			c.logf("Redis SHUTDOWN, start again after %s", down.Round(time.Millisecond))
			c.rs.restart(down)
		case "api-outage":
			d := 4*time.Second + jitter(rng, 4*time.Second)
			c.logf("API down for %s", d.Round(time.Millisecond))
			c.sim.must(c.sim.post("down"))
			time.Sleep(d)
			c.sim.must(c.sim.post("up"))
		case "expire-tokens":
			c.logf("IAM tokens expired")
			c.sim.must(c.sim.post("expire-tokens"))
		}
		c.count(a)
	}
}

// drain waits up to d for every key to be terminal in the ledger and returns those that are not.
func (c *chaosRun) drain(keys []string, d time.Duration) []string {
	invalid := map[string]bool{}
	for _, o := range c.orders {
		invalid[o.key] = o.invalid
	}
	ledgerKeys := make([]string, len(keys))
	orderKey := map[string]string{}
	for i, k := range keys {
		ledgerKeys[i] = ledgerKey(k, invalid[k])
		orderKey[ledgerKeys[i]] = k
	}
	ledger := tasks.NewLedger(c.tr.rdb, c.tr.keys, 0)
	open := waitTerminal(c.t, ledger, ledgerKeys, min(d, time.Until(c.start.Add(chaosBound))))
	for i, lk := range open {
		open[i] = orderKey[lk]
	}
	c.logf("%d of %d orders ended", len(keys)-len(open), len(keys))
	return open
}

// ledgerKey is where the ledger records the order of key: an invalid order never takes its key,
// and its failure is recorded under "invalid:" and its task id (enqueued raw under TaskID(key)).
func ledgerKey(key string, invalid bool) string {
	if invalid {
		return "invalid:" + tasks.TaskID(key)
	}
	return key
}

// plausibleClass says whether a dead letter's class fits how its order could have failed here.
func (c *chaosRun) plausibleClass(dl tasks.DeadLetter, invalid bool) bool {
	if invalid {
		return dl.Class == tasks.ClassInvalid && len(dl.Error.Fields) > 0
	}
	switch dl.Class {
	case tasks.ClassRejected: // the simulator's random rejection
		return dl.Error.Code == "CPS.0006" && dl.Error.HTTPStatus == 400
	case tasks.ClassExhausted, tasks.ClassAmbiguous: // faults, outages and kills used up the budget
		return dl.Error.Message != ""
	}
	return false // invalid for a valid order; auth while IAM works
}

// replayDeadLetters checks and replays every dead letter and waits for the replays to end. It
// returns how often each key was replayed, and what was wrong.
func (c *chaosRun) replayDeadLetters() (replayed map[string]int, problems []string) {
	ctx := context.Background()
	invalid := map[string]bool{}
	for _, o := range c.orders {
		invalid[o.key] = o.invalid
	}
	dls := tasks.NewDeadLetters(c.tr.rdb, c.tr.keys)
	list, err := dls.List(ctx, 0, 100_000)
	if err != nil {
		c.t.Fatalf("dead letters: %v", err)
	}
	replayed = map[string]int{}
	classes := map[tasks.ErrorClass]int{}
	for _, dl := range list {
		classes[dl.Class]++
		if _, ours := invalid[dl.IdempotencyKey]; !ours {
			problems = append(problems, fmt.Sprintf("dead letter %s names key %q, which no order has", dl.TaskID, dl.IdempotencyKey))
			continue
		}
		if !c.plausibleClass(dl, invalid[dl.IdempotencyKey]) {
			problems = append(problems, fmt.Sprintf("dead letter %s (%s): implausible class %s: %+v", dl.TaskID, dl.IdempotencyKey, dl.Class, dl.Error))
		}
		if _, err := c.producer.Replay(ctx, dls, c.insp, dl.TaskID); err != nil {
			problems = append(problems, fmt.Sprintf("replay %s: %v", dl.TaskID, err))
			continue
		}
		replayed[dl.IdempotencyKey]++
	}
	c.logf("dead letters by class %v: replayed", classes)
	keys := make([]string, 0, len(replayed))
	for k := range replayed {
		keys = append(keys, k)
	}
	if open := c.drain(keys, 2*time.Minute); len(open) > 0 {
		problems = append(problems, fmt.Sprintf("%d replayed orders did not end: %v", len(open), open))
	}
	return replayed, problems
}

// check states each property of the run on one line, then the summary.
func (c *chaosRun) check(replayed map[string]int, problems []string) {
	t := c.t
	ctx := context.Background()
	ledger := tasks.NewLedger(c.tr.rdb, c.tr.keys, 0)
	stream := streamByKey(t, c.tr)
	known := map[string]*chaosOrder{}
	for _, o := range c.orders {
		known[o.key] = o
	}

	// 1. Every order ends in exactly one terminal result per run: the ledger's state, and the
	// stream's entries (a dead letter for each run that failed, at most one success, last).
	var lost, badResults []string
	succeeded := map[string]tasks.Result{}
	reconciled := 0
	for _, o := range c.orders {
		e, ok, err := ledger.Get(ctx, ledgerKey(o.key, o.invalid))
		if err != nil {
			t.Fatal(err)
		}
		if !ok || (e.State != "succeeded" && e.State != "failed") {
			lost = append(lost, fmt.Sprintf("%s (ledger %+v, task %s)", o.key, e, c.taskState(o.key)))
			continue
		}
		rs := stream[o.key]
		nOK, nDL := 0, 0
		for _, r := range rs {
			if r.Status == tasks.StatusSucceeded {
				nOK++
			} else {
				nDL++
			}
		}
		last := ""
		if len(rs) > 0 {
			last = rs[len(rs)-1].Status
		}
		want := map[string]string{"succeeded": tasks.StatusSucceeded, "failed": tasks.StatusDeadLettered}[e.State]
		if nOK > 1 || nDL > 1+replayed[o.key] || last != want {
			badResults = append(badResults, fmt.Sprintf("%s: ledger %s, stream %d succeeded + %d dead-lettered (replayed %d), last %q",
				o.key, e.State, nOK, nDL, replayed[o.key], last))
		}
		if e.State == "succeeded" && nOK == 1 {
			r := rs[len(rs)-1]
			succeeded[o.key] = r
			if r.Reconciled {
				reconciled++
			}
		}
	}
	for key := range stream {
		if known[key] == nil {
			badResults = append(badResults, fmt.Sprintf("%s: a result for a key no order has", key))
		}
	}
	c.verdict(len(lost) == 0 && len(badResults) == 0,
		"every order has exactly one terminal result: %d orders, %d lost, %d with wrong results", len(c.orders), len(lost), len(badResults))
	for _, s := range append(lost, badResults...) {
		t.Errorf("  %s", s)
	}

	// 2. No name bought twice, and the succeeded results are the orders placed, one to one.
	placed := c.sim.orders()
	byName := map[string][]string{}
	for _, o := range placed {
		byName[o.ServerName] = append(byName[o.ServerName], o.OrderID)
	}
	var twice, mismatched []string
	for name, ids := range byName {
		if len(ids) > 1 {
			twice = append(twice, fmt.Sprintf("%s bought %d times: %v", name, len(ids), ids))
		}
	}
	resultIDs := map[string]string{}
	for key, r := range succeeded {
		resultIDs[r.OrderID] = key
		ids := byName[known[key].name]
		if len(ids) == 0 || ids[0] != r.OrderID {
			mismatched = append(mismatched, fmt.Sprintf("%s: result order %q, placed %v", key, r.OrderID, ids))
		}
	}
	for _, o := range placed {
		if _, ok := resultIDs[o.OrderID]; !ok {
			mismatched = append(mismatched, fmt.Sprintf("order %s for %s was placed, and no succeeded result names it", o.OrderID, o.ServerName))
		}
	}
	c.verdict(len(twice) == 0 && len(mismatched) == 0,
		"no name bought twice, results match orders one to one: %d orders placed, %d succeeded results, %d names bought twice, %d mismatches",
		len(placed), len(succeeded), len(twice), len(mismatched))
	for _, s := range append(twice, mismatched...) {
		t.Errorf("  %s", s)
	}

	// 3. Dead letters (checked and replayed by replayDeadLetters; a replay that ended
	// dead-lettered again, e.g. an invalid order, is terminal too).
	left, err := tasks.NewDeadLetters(c.tr.rdb, c.tr.keys).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.verdict(len(problems) == 0,
		"dead letters have plausible classes and replay to a terminal result: %d replayed, %d dead-lettered again, %d problems",
		sum(replayed), left, len(problems))
	for _, s := range problems {
		t.Errorf("  %s", s)
	}

	// 4. The fleet's rate, as the API counted it.
	st := c.sim.stats()
	c.verdict(st.RateLimitViolations == 0 && st.MaxPurchasesPerSecond <= chaosRateLimit,
		"the fleet kept CPH_RATE_LIMIT=%d: at most %d purchase calls in any second, %d refused for the rate limit",
		chaosRateLimit, st.MaxPurchasesPerSecond, st.RateLimitViolations)
	if st.MaxPurchasesPerSecond > chaosRateLimit {
		for _, call := range densestSecond(c.sim) {
			t.Logf("  %s %s status %d %s fault %s", call.Time.Format("15:04:05.000"), call.ServerName, call.Status, call.Code, call.Fault)
		}
	}

	// 5. The bound.
	took := time.Since(c.start)
	c.verdict(took <= chaosBound, "the run ended by itself in %s (bound %s)", took.Round(time.Second), chaosBound)

	dups := 0
	for _, o := range c.orders {
		if o.dupKey || o.rawCopy {
			dups++
		}
	}
	c.mu.Lock()
	counts := c.counts
	c.mu.Unlock()
	t.Logf("chaos summary seed=%d: %d orders (%d submitted twice), %d orders placed, %d succeeded (%d reconciled), "+
		"%d dead letters replayed; duplicates found %d, lost %d; survived %d SIGKILL+restart, %d SIGTERM+restart, "+
		"%d Redis restart, %d API outage, %d token expiry; %d purchase calls (%d throttled, %d unauthorized), "+
		"max %d/s; run time %s",
		c.seed, len(c.orders), dups, len(placed), len(succeeded), reconciled, sum(replayed), len(twice), len(lost),
		counts["kill"], counts["term"], counts["redis-restart"], counts["api-outage"], counts["expire-tokens"],
		st.PurchaseCalls, st.Throttled, st.Unauthorized, st.MaxPurchasesPerSecond, took.Round(time.Second))
}

// verdict prints one checked property, failing the test when it does not hold.
func (c *chaosRun) verdict(ok bool, format string, args ...any) {
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		c.t.Fail()
	}
	c.t.Logf("%s %s", mark, fmt.Sprintf(format, args...))
}

// taskState describes the asynq task of key, for a lost order's report.
func (c *chaosRun) taskState(key string) string {
	info, err := c.insp.GetTaskInfo(c.tr.queue, tasks.TaskID(key))
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s, retried %d/%d, last error %q", info.State, info.Retried, info.MaxRetry, info.LastErr)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// jitter is a seeded random duration in [0, d).
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}
