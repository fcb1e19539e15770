package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/signgate/signgate/server/ratelimit"
	"github.com/signgate/signgate/tests/storage"
)

type step struct {
	name       string
	givenAfter time.Duration // the clock moves this far first (memory only)
	givenKey   string
	givenCost  int
	wantOK     bool
	wantLeft   int
}

// spendSteps runs steps against l, each after moving advance.
func spendSteps(t *testing.T, l ratelimit.Limiter, advance func(time.Duration), steps []step) {
	t.Helper()
	for _, s := range steps {
		advance(s.givenAfter)
		res, err := l.AllowN(context.Background(), s.givenKey, s.givenCost)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Allowed != s.wantOK || res.Remaining != s.wantLeft {
			t.Fatalf("%s: allowed %v with %d left, want %v with %d", s.name, res.Allowed, res.Remaining, s.wantOK, s.wantLeft)
		}
		if !res.Allowed && res.RetryAfter <= 0 {
			t.Errorf("%s: refused without a RetryAfter", s.name)
		}
	}
}

func TestMemoryBudgets(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mem, err := ratelimit.NewMemory(ratelimit.Limit{Rate: 2, Burst: 10}, 2, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	spendSteps(t, mem, func(d time.Duration) { now = now.Add(d) }, []step{
		{name: "spends a cost from a full budget", givenKey: "a", givenCost: 8, wantOK: true, wantLeft: 2},
		{name: "refuses more than is left and spends nothing", givenKey: "a", givenCost: 3, wantOK: false, wantLeft: 2},
		{name: "refills at the rate", givenAfter: time.Second, givenKey: "a", givenCost: 4, wantOK: true, wantLeft: 0},
		{name: "keeps keys apart", givenKey: "b", givenCost: 1, wantOK: true, wantLeft: 9},
		{name: "a third key pushes out the least recent", givenKey: "c", givenCost: 1, wantOK: true, wantLeft: 9},
		{name: "a pushed-out key starts full", givenKey: "a", givenCost: 10, wantOK: true, wantLeft: 0},
		{name: "never holds more than the burst", givenAfter: time.Hour, givenKey: "a", givenCost: 11, wantOK: false, wantLeft: 10},
	})
}

func TestRedisBudgetsAreShared(t *testing.T) {
	r, err := storage.StartRedis(context.Background())
	if storage.IsNotInstalled(err) {
		storage.SkipOrFail(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	limit := ratelimit.Limit{Rate: 1, Burst: 10}
	var replicas []ratelimit.Limiter
	for range 3 {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { rdb.Close() })
		replicas = append(replicas, ratelimit.NewRedis(rdb, limit, "test:", time.Second))
	}
	spent := 0
	for i := range 5 { // 2 units from each replica in turn
		res, err := replicas[i%3].AllowN(context.Background(), "alice", 2)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed {
			t.Fatalf("spend %d refused with %d left", i, res.Remaining)
		}
		spent += 2
	}
	res, err := replicas[2].AllowN(context.Background(), "alice", 2)
	if err != nil {
		t.Fatal(err)
	}
	// 10 spent across three clients: the budget they share is empty, but
	// for what refilled while the test ran (1 a second).
	if res.Allowed || res.RetryAfter <= 0 || res.Remaining > 1 {
		t.Fatalf("after %d units across 3 replicas: allowed %v, %d left, retry after %s; want refused", spent, res.Allowed, res.Remaining, res.RetryAfter)
	}
	if res, _ := replicas[0].AllowN(context.Background(), "bob", 10); !res.Allowed {
		t.Error("another key's budget was spent too")
	}
	r.Stop()
	if _, err := replicas[1].AllowN(context.Background(), "alice", 1); err == nil {
		t.Error("no error with Redis down")
	}
}
