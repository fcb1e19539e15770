package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/server/ratelimit"
)

// rateLimits builds the per-principal limits of server.rate_limit: in
// this process, or shared by the replicas through Redis. The returned
// function closes the Redis client. No limits (store: none): no option.
func rateLimits(rl config.RateLimit, log *slog.Logger) ([]server.Option, func() error, error) {
	noop := func() error { return nil }
	if rl.Store == "none" {
		return nil, noop, nil
	}
	limit := ratelimit.Limit{Rate: rl.Rate, Burst: rl.Burst}
	opts := server.RateLimits{
		Limit: limit, HMACCost: rl.HMACCost, RSACost: rl.RSACost,
		MaxConcurrent: rl.MaxConcurrent, FailOpen: rl.OnStoreError == "fail_open",
	}
	closeFn := noop
	switch rl.Store {
	case "memory":
		mem, err := ratelimit.NewMemory(limit, rl.MaxPrincipals, time.Now)
		if err != nil {
			return nil, nil, fmt.Errorf("server.rate_limit: %w", err)
		}
		opts.Limiter = mem
	case "redis":
		rdb, err := redisClient(rl.Redis)
		if err != nil {
			return nil, nil, err
		}
		// go-redis logs each failed dial itself; the limits log one line
		// when the store goes down and one when it is back.
		redis.SetLogger(redisLog{log.With("component", "redis")})
		opts.Limiter = ratelimit.NewRedis(rdb, limit, rl.Redis.KeyPrefix, rl.Redis.Timeout.Duration)
		closeFn = rdb.Close
	}
	return []server.Option{server.WithRateLimits(opts)}, closeFn, nil
}

// redisClient connects lazily: a Redis that is down at start-up is a
// store error on each request (on_store_error), not a failed start.
func redisClient(r config.RedisStore) (*redis.Client, error) {
	o := &redis.Options{
		Addr: r.Addr, DB: r.DB,
		DialTimeout: r.Timeout.Duration, ReadTimeout: r.Timeout.Duration, WriteTimeout: r.Timeout.Duration,
		MaxRetries: -1, DialerRetries: 1, // one try: the request waits at most the timeout
	}
	if r.PasswordEnv != "" {
		pw, ok := os.LookupEnv(r.PasswordEnv)
		if !ok || pw == "" {
			return nil, fmt.Errorf("server.rate_limit.redis.password_env: environment variable %s is not set", r.PasswordEnv)
		}
		o.Password = pw
	}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addr) // validated
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return redis.NewClient(o), nil
}

// redisLog sends go-redis's own messages to the debug log.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
