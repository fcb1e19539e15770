// Package ratelimit owns the cost budgets of principals: a generic cell
// rate algorithm (GCRA) that refills Rate units a second up to Burst,
// kept in this process (Memory) or shared by replicas through Redis
// (Redis). It only answers whether a key may spend a cost now.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is a budget: Rate units refilled each second, at most Burst held.
type Limit struct {
	Rate  int
	Burst int
}

// Window is how long an empty budget takes to refill, in whole seconds.
func (l Limit) Window() int { return int(math.Ceil(float64(l.Burst) / float64(l.Rate))) }

// Result is the answer to one spend.
type Result struct {
	Allowed    bool
	Remaining  int           // units left now
	RetryAfter time.Duration // refused: when the cost would be allowed
	ResetAfter time.Duration // when the budget is full again
}

// Limiter spends cost units of key's budget, or refuses and spends none.
// An error means the budget could not be asked (the store is down).
type Limiter interface {
	AllowN(ctx context.Context, key string, cost int) (Result, error)
}

// Memory keeps the budgets of the most recently seen keys in this
// process; a key pushed out by newer ones starts again with a full budget.
type Memory struct {
	limit Limit
	now   func() time.Time
	mu    sync.Mutex // creation of a key's limiter
	keys  *lru.Cache[string, *rate.Limiter]
}

var _ Limiter = (*Memory)(nil)

// NewMemory keeps at most maxKeys budgets of limit. now is the clock.
func NewMemory(limit Limit, maxKeys int, now func() time.Time) (*Memory, error) {
	keys, err := lru.New[string, *rate.Limiter](maxKeys)
	if err != nil {
		return nil, err
	}
	return &Memory{limit: limit, now: now, keys: keys}, nil
}

// AllowN spends cost of key's budget if it holds that much now.
func (m *Memory) AllowN(_ context.Context, key string, cost int) (Result, error) {
	lim, ok := m.keys.Get(key)
	if !ok {
		m.mu.Lock()
		if lim, ok = m.keys.Get(key); !ok {
			lim = rate.NewLimiter(rate.Limit(m.limit.Rate), m.limit.Burst)
			m.keys.Add(key, lim)
		}
		m.mu.Unlock()
	}
	now := m.now()
	allowed := lim.AllowN(now, cost)
	tokens := max(lim.TokensAt(now), 0)
	r := Result{
		Allowed:    allowed,
		Remaining:  int(tokens),
		ResetAfter: m.seconds(float64(m.limit.Burst) - tokens),
	}
	if !allowed {
		r.RetryAfter = m.seconds(float64(cost) - tokens)
	}
	return r, nil
}

func (m *Memory) seconds(units float64) time.Duration {
	return time.Duration(max(units, 0) / float64(m.limit.Rate) * float64(time.Second))
}

// Redis keeps the budgets in a Redis server that every replica asks, with
// redis_rate's GCRA script: the replicas share one budget per key.
type Redis struct {
	limit   Limit
	prefix  string
	timeout time.Duration
	rl      *redis_rate.Limiter
}

var _ Limiter = (*Redis)(nil)

// NewRedis asks rdb, prefixing every key with prefix; timeout bounds each
// call.
func NewRedis(rdb redis.UniversalClient, limit Limit, prefix string, timeout time.Duration) *Redis {
	return &Redis{limit: limit, prefix: prefix, timeout: timeout, rl: redis_rate.NewLimiter(rdb)}
}

// AllowN spends cost of key's shared budget if it holds that much now.
func (r *Redis) AllowN(ctx context.Context, key string, cost int) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.rl.AllowN(ctx, r.prefix+key, redis_rate.Limit{Rate: r.limit.Rate, Burst: r.limit.Burst, Period: time.Second}, cost)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Allowed:    res.Allowed > 0,
		Remaining:  res.Remaining,
		RetryAfter: max(res.RetryAfter, 0),
		ResetAfter: max(res.ResetAfter, 0),
	}, nil
}
