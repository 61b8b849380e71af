package e2e

import (
	"testing"
	"time"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/tasks"
	"cphpurchase/internal/testkit"
)

// redeliveryWait bounds the wait for a SIGKILLed worker's task to come back. asynq re-delivers it
// only after its 30 s lease (extended every 5 s while the worker lived) has been expired for 30 s
// more, when a recoverer looks: at a server's start-up, then once a minute. The new worker starts
// at once, so its start-up pass is too early and its next pass, a minute later, takes the task:
// about 60–90 s after the kill, plus the retry delay and the reconciliation. Three minutes leaves
// room for a slow, shared machine.
const redeliveryWait = 3 * time.Minute

// TestSIGKILLMidCall kills the worker while its purchase call hangs after the simulator committed
// the order: the order exists, the worker never learnt it. A new worker must find it by
// reconciliation instead of buying it again.
func TestSIGKILLMidCall(t *testing.T) {
	t.Parallel()
	const name, key = "e2e-kill-1", "e2e/kill/1"
	s := startSimInTest(t, cphsim.Options{
		HangFor: 10 * time.Minute, // until the client goes away: the worker dies first
		Decide: func(c cphsim.PurchaseCall) cphsim.Fault {
			if c.ServerName == name && c.Seq == 1 {
				return cphsim.Fault{Kind: cphsim.FaultHangAfterCommit}
			}
			return cphsim.Fault{Kind: cphsim.FaultNone}
		},
	}, nil)
	tr := newTestRedis(t)
	ps := newProcs(t)
	producer := tr.operator(t, 3).Producer()
	// A long call timeout keeps the first worker inside its call until the kill, however slow
	// the machine; it costs nothing later, since reconciliation finds the order at once.
	env := workerEnv(tr, s.url, map[string]string{"CPH_TIMEOUT": "30s"})

	first := startWorker(t, ps, "worker-1", env)
	en := enqueue(t, producer, newOrder(key, name))
	if !testkit.Poll(60*time.Second, func() bool { return len(s.ordersFor(name)) > 0 }) {
		t.Fatal("the simulator never committed the order")
	}
	first.kill()
	if _, ok := first.wait(10 * time.Second); !ok {
		t.Fatal("worker-1 survived SIGKILL")
	}
	ledger := tasks.NewLedger(tr.rdb, tr.keys, 0)
	if st := ledgerState(t, ledger, key); st != "submitting" {
		t.Fatalf("after the kill the ledger says %q, want submitting (a call with no known outcome)", st)
	}

	startWorker(t, ps, "worker-2", env)
	if open := waitTerminal(t, ledger, []string{key}, redeliveryWait); len(open) > 0 {
		t.Fatalf("the order did not end within %s of the restart", redeliveryWait)
	}
	r := checkBoughtOnce(t, tr, s, map[string]string{key: name})[key]
	if !r.Reconciled || r.TaskID != en.TaskID {
		t.Errorf("result = %+v; want reconciled, of task %s", r, en.TaskID)
	}
	if st := s.stats(); st.PurchaseCalls != 1 {
		t.Errorf("purchase calls = %d, want 1: the order was found, not bought again", st.PurchaseCalls)
	}
}
