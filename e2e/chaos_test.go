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

	"cphpurchase/internal/cph/cphsim"
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

// The workers' call timeout and reconciliation grace, and the simulator's late commits. A late
// commit lands chaosLateCommit after its 504, and the 504 comes at most CPH_TIMEOUT after the
// call's posting mark; so the order exists by mark + chaosCallTimeout + chaosLateCommit. The grace
// runs from the call's deadline (mark + CPH_TIMEOUT), so chaosLateCommit alone would do; it is
// kept above CPH_TIMEOUT + chaosLateCommit all the same, a margin that costs seconds. Only then is
// "not listed after the grace" proof that nothing was placed, and RECONCILE_POLICY=rebuy safe.
// Short enough that an order whose call had no answer and placed nothing (the API outage, a kill
// before the call left) is bought again within seconds, and that the name lock of a call nobody
// settles (CPH_TIMEOUT + grace + 4 min of clock margin) ends inside the drain.
const (
	chaosCallTimeout = 2 * time.Second
	chaosLateCommit  = 3 * time.Second
	chaosGrace       = 6 * time.Second
)

// The simulator's faults, per purchase call that reaches the decision. The four that commit the
// order and hide it (fail after commit, hang, drop, late commit) add up to 24 %, so that well over
// a fifth of the calls leave an order that only reconciliation can attribute.
var chaosFaultRates = []struct {
	flag       string
	rate       float64
	postCommit bool
}{
	{"--throttle-rate", 0.05, false},
	{"--fail-before-rate", 0.04, false},
	{"--fail-after-rate", 0.07, true},
	{"--hang-rate", 0.05, true},
	{"--drop-rate", 0.05, true},
	{"--reject-rate", 0.02, false},
	{"--late-commit-rate", 0.07, true},
}

// chaosPostCommitKinds are the faults that commit an order and tell the caller something else.
var chaosPostCommitKinds = []cphsim.FaultKind{
	cphsim.FaultFailAfterCommit, cphsim.FaultHangAfterCommit, cphsim.FaultDropAfterCommit, cphsim.FaultLateCommit,
}

func init() {
	if chaosGrace <= chaosCallTimeout+chaosLateCommit {
		panic("chaos: RECONCILE_GRACE must exceed CPH_TIMEOUT + the late-commit delay, or rebuying after the grace can buy twice")
	}
	post := 0.0
	for _, f := range chaosFaultRates {
		if f.postCommit {
			post += f.rate
		}
	}
	if post < 0.2 {
		panic("chaos: the post-commit faults must reach a fifth of the purchase calls")
	}
}

// chaosOrder is one order of the run and how it was submitted.
type chaosOrder struct {
	key, name string
	index     int
	order     *tasks.Order
	wave      int
	invalid   bool // breaks the API's rules, enqueued raw: must end dead-lettered as invalid
	dupKey    bool // enqueued a second time through the producer: must be reported a duplicate
	rawCopy   bool // also enqueued raw under another task id: must not buy a second time
	// group, when not 0, is the shared-name group or name family the order belongs to; follower
	// marks an order whose server name (or one of whose servers' names) another key of the group
	// buys too, the group's first order being its host.
	group    int
	follower bool
	family   bool // the group is a name family: "x" of 2 servers, "x-0001" and "x-0002" of 1
	// identical: the request is byte for byte that of the other keys of its group (each has an
	// idempotency key of its own); otherwise a shared-name order carries a keypair_name of its own.
	identical bool
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
	op       *tasks.Operator
	producer *tasks.Producer
	insp     *asynq.Inspector
	client   *asynq.Client
	orders   []*chaosOrder

	mu      sync.Mutex
	workers [chaosWorkers]*proc
	started []*proc        // every worker process of the run, restarted ones too
	counts  map[string]int // what the storm did, by action
	events  []stormEvent   // when the storm did it, to explain what the API saw
}

// stormEvent is one thing the storm did (Redis shut down, Redis back, …) and when.
type stormEvent struct {
	at   time.Time
	what string
}

// TestChaos runs three workers, a Redis of its own and a faulty simulator, submits a few hundred
// orders with duplicates among them and over a quarter sharing server names with other keys, and
// meanwhile kills and restarts workers, stops one gracefully, restarts Redis, takes the API down
// and expires the IAM tokens, while a quarter of the purchase calls commit their order and hide it.
// Then every order must have exactly one terminal result; every order placed must be reported, by
// its own key's success or as an ambiguous dead letter's candidate, and by one key only; no key may
// have bought twice; every dead letter must replay to a terminal result; and the fleet must never
// have exceeded its rate limit. Only with CHAOS=1.
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
	c.tr = newTestRedisAt(t, c.rs.url())
	simArgs := []string{
		"--seed", fmt.Sprint(seed), "--latency", "20ms", "--hang-for", "20s",
		"--late-commit-after", chaosLateCommit.String(),
		"--rate-limit", fmt.Sprint(chaosRateLimit),
		"--iam-user", chaosIAMUser, "--iam-domain", chaosIAMDomain,
	}
	for _, f := range chaosFaultRates {
		simArgs = append(simArgs, f.flag, fmt.Sprint(f.rate))
	}
	c.sim = startSimProcess(t, c.ps, simArgs, map[string]string{"CPHSIM_IAM_PASSWORD": chaosIAMPassword})
	c.env = workerEnv(c.tr, c.sim.url, map[string]string{
		"IAM_ENDPOINT": c.sim.url, "IAM_USERNAME": chaosIAMUser, "IAM_PASSWORD": chaosIAMPassword, "IAM_DOMAIN": chaosIAMDomain,
		"CPH_RATE_LIMIT": fmt.Sprint(chaosRateLimit), "WORKER_CONCURRENCY": "8",
		"CPH_TIMEOUT": chaosCallTimeout.String(), "RECONCILE_GRACE": chaosGrace.String(), "RECONCILE_POLICY": string(tasks.RebuyAfterGrace),
		"RETRY_BASE_DELAY": "200ms", "RETRY_MAX_DELAY": "2s",
		"SHUTDOWN_TIMEOUT": "4s",
	})
	delete(c.env, "CPH_TOKEN") // IAM is the one credential source
	c.op = c.tr.operator(t, chaosMaxRetry)
	c.producer, c.insp = c.op.Producer(), c.op.Inspector()
	c.client = asynq.NewClientFromRedisClient(c.tr.rdb)
	c.orders = chaosOrders(seed)
	seen := map[string]int{}
	for _, o := range c.orders {
		if j, dup := seen[o.key]; dup {
			t.Fatalf("the order mix gives orders %d and %d one key %s", j, o.index, o.key)
		}
		seen[o.key] = o.index
	}
	return c
}

// chaosOrders is the seeded order mix: one, two or three servers an order, a fifth with a derived
// key, duplicates and invalid orders among them, and over a quarter of the orders buying a server
// name that another key buys too (shareNames).
func chaosOrders(seed int64) []*chaosOrder {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x0c4a05))
	out := make([]*chaosOrder, chaosOrderCount)
	for i := range out {
		name := fmt.Sprintf("chaos-%03d", i)
		o := newOrder(fmt.Sprintf("chaos/%d/%03d", seed, i), name)
		co := &chaosOrder{name: name, index: i, order: o}
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
		out[i] = co
	}
	shareNames(seed, out)
	for _, co := range out {
		co.key = co.order.Key()
	}
	return out
}

// chaosSharedShare is the share of the orders that reuse a server name another key buys.
const chaosSharedShare = 0.27

// chaosFamilies is how many name families the mix holds: "x" of two servers (x-0001, x-0002),
// "x-0001" of one and "x-0002" of one, three keys whose servers bear the same names, under one
// name stem and so one name lock.
const chaosFamilies = 2

// shareNames makes over a quarter of the valid orders reuse the server name of another key's
// order: a couple of name families, then groups of two to four keys that buy one server_name,
// each with its own count (most of one server) unless the group is identical. A group is
// identical about a third of the time: the same count and byte for byte the same request under
// idempotency keys of their own, which nothing at the API tells apart. Otherwise each order of
// the group carries a keypair_name of its own: the worker ignores it (reconciliation tells orders
// apart by server names, time and claims only), but the simulator records the request body of
// every order, so the checks can prove which key's request placed it. Followers mostly join their
// host's wave, so that the keys of a group buy at the same time.
func shareNames(seed int64, orders []*chaosOrder) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5a3ed))
	var free []*chaosOrder
	for _, co := range orders {
		if !co.invalid {
			free = append(free, co)
		}
	}
	rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	take := func() *chaosOrder {
		co := free[0]
		free = free[1:]
		return co
	}
	rename := func(co *chaosOrder, name string) {
		co.name = name
		co.order.Request.ServerName = name
		co.order.Metadata["name"] = name
	}
	group, followers := 0, 0
	for f := range chaosFamilies {
		group++
		stem := fmt.Sprintf("chaos-fam%d", f)
		var host *chaosOrder
		for j, name := range []string{stem, stem + "-0001", stem + "-0002"} {
			co := take()
			rename(co, name)
			*co.order.Request.Count = 1
			if j == 0 {
				*co.order.Request.Count = 2
				host = co
			} else {
				co.follower = true
				followers++
				if rng.Float64() < 0.7 {
					co.wave = host.wave
				}
			}
			co.group, co.family = group, true
		}
	}
	target := int(chaosSharedShare*float64(len(orders)) + 0.5)
	for followers < target && len(free) >= 2 {
		group++
		size := 2 + rng.IntN(3)
		identical := rng.Float64() < 0.3
		host := take()
		members := []*chaosOrder{host}
		for range size - 1 {
			if len(free) == 0 || followers == target {
				break
			}
			co := take()
			rename(co, host.name)
			co.follower = true
			if rng.Float64() < 0.7 {
				co.wave = host.wave
			}
			members = append(members, co)
			followers++
		}
		for _, co := range members {
			co.group, co.identical = group, identical
			if identical {
				*co.order.Request.Count = *host.order.Request.Count
				co.order.IdempotencyKey = fmt.Sprintf("chaos/%d/%03d", seed, co.index) // a derived key would be one for all
			} else {
				co.order.Request.KeypairName = fmt.Sprintf("chaos-kp-%03d", co.index)
			}
		}
	}
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

// event records that the storm did what just now.
func (c *chaosRun) event(what string) {
	c.mu.Lock()
	c.events = append(c.events, stormEvent{at: time.Now(), what: what})
	c.mu.Unlock()
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
	c.started = append(c.started, w)
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
			c.event("Redis SHUTDOWN")
			c.rs.restart(down)
			c.event("Redis back after a restart")
		case "api-outage":
			d := 4*time.Second + jitter(rng, 4*time.Second)
			c.logf("API down for %s", d.Round(time.Millisecond))
			c.sim.must(c.sim.post("down"))
			c.event("API down")
			time.Sleep(d)
			c.sim.must(c.sim.post("up"))
			c.event("API up after an outage")
		case "expire-tokens":
			c.logf("IAM tokens expired")
			c.sim.must(c.sim.post("expire-tokens"))
			c.event("IAM tokens expired")
		default:
			c.event(a + " " + w.name)
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
	list, err := c.op.DeadLetters().List(ctx, 0, 100_000)
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
		if _, err := c.op.Replay(ctx, dl.TaskID, tasks.ReplayOptions{}); err != nil {
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
		want := map[string]string{"succeeded": tasks.StatusSucceeded, "failed": tasks.StatusDeadLettered}[string(e.State)]
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

	// 2. Attribution: which key each of the simulator's orders belongs to (chaos_attribution_test.go).
	placed := c.placedOrders()
	a := c.attribute(stream, placed)
	a.report(c)

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

	// 4. The fleet's rate, as the API counted it. The limiter guarantees at most CPH_RATE_LIMIT
	// admissions in any second of Redis's clock, and at the API at most CPH_RATE_LIMIT+1 calls in
	// any second while the delays from admission to arrival of the calls around it differ by less
	// than one interval (see "What is guaranteed" on tasks.RateLimiter): the +1 is scheduling
	// jitter, which no limiter can take out. An API with a second's burst (cphsim's token bucket)
	// then refuses nothing.
	st := c.sim.stats()
	c.verdict(st.RateLimitViolations == 0 && st.MaxPurchasesPerSecond <= chaosRateLimit+1,
		"the fleet kept CPH_RATE_LIMIT=%d: at most %d purchase calls in any second (limit+1 allowed for jitter), %d refused for the rate limit",
		chaosRateLimit, st.MaxPurchasesPerSecond, st.RateLimitViolations)
	if st.MaxPurchasesPerSecond > chaosRateLimit+1 || st.RateLimitViolations > 0 {
		c.explainBursts(chaosRateLimit + 1)
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
		"%d dead letters replayed; double buys %d, lost %d; survived %d SIGKILL+restart, %d SIGTERM+restart, "+
		"%d Redis restart, %d API outage, %d token expiry; %d purchase calls (%d throttled, %d unauthorized), "+
		"max %d/s, %d refused for the rate limit; run time %s",
		c.seed, len(c.orders), dups, len(placed), len(succeeded), reconciled, sum(replayed), len(a.doubleBuys), len(lost),
		counts["kill"], counts["term"], counts["redis-restart"], counts["api-outage"], counts["expire-tokens"],
		st.PurchaseCalls, st.Throttled, st.Unauthorized, st.MaxPurchasesPerSecond, st.RateLimitViolations, took.Round(time.Second))
	a.summary(c, st, reconciled)
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
