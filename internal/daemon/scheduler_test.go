package daemon

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/internal/testenv"
)

// TestOneSchedulerLeads: of two processes' schedulers on one Redis, exactly
// one runs the schedule manager at any time; when it stops, the other
// takes over within the lease's TTL.
func TestOneSchedulerLeads(t *testing.T) {
	rdb := testenv.Redis(t).Client(t)
	const ttl = 600 * time.Millisecond
	a, b := newScheduler(rdb, zap.NewNop(), time.Second, ttl), newScheduler(rdb, zap.NewNop(), time.Second, ttl)
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() { defer close(doneA); a.run(ctxA) }()
	go func() { defer close(doneB); b.run(ctxB) }()
	t.Cleanup(func() { stopA(); stopB(); <-doneA; <-doneB })

	leaders := func() int {
		n := 0
		for _, s := range []*scheduler{a, b} {
			if s.leading.Load() {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for leaders() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d schedulers lead after 5s, want 1", leaders())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n := leaders(); n != 1 {
			t.Fatalf("%d schedulers lead at once, want exactly 1", n)
		}
	}
	// The leader stops (a shutdown releases the lease; a crash lets it
	// expire): the other takes over.
	leader, other, stop, done := a, b, stopA, doneA
	if !a.leading.Load() {
		leader, other, stop, done = b, a, stopB, doneB
	}
	stop()
	<-done
	if leader.leading.Load() {
		t.Fatal("a stopped scheduler still leads")
	}
	deadline = time.Now().Add(2 * ttl)
	for !other.leading.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the other scheduler did not take over within the lease's TTL")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
