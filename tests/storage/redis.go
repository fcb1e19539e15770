package storage

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
)

// Redis is a redis-server (the Debian package) on 127.0.0.1, with no
// persistence, for the rate limits that replicas share.
type Redis struct {
	*Process
	Addr string
}

// StartRedis starts redis-server on a free port and waits until it
// answers PING. A missing redis-server is an error wrapping
// ErrNotInstalled.
func StartRedis(ctx context.Context) (*Redis, error) { return StartRedisAt(ctx, 0) }

// StartRedisAt is StartRedis on port, or on a free one when port is 0: a
// test restarts Redis where its clients look for it.
func StartRedisAt(ctx context.Context, port int) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("SKIPPED: redis-server %w; run .ci/run, or: apt-get install -y redis-server", ErrNotInstalled)
	}
	p, port, err := StartServerAt(ctx, "redis", "", nil, port,
		func(port int) []string {
			return []string{bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
				"--save", "", "--appendonly", "no", "--protected-mode", "yes"}
		},
		func(ctx context.Context, port int) error { return redisPing(ctx, hostPort(port)) })
	if err != nil {
		return nil, err
	}
	return &Redis{Process: p, Addr: hostPort(port)}, nil
}

// redisPing sends PING in the Redis protocol and wants +PONG.
func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis: PING answered %q", line)
	}
	return nil
}
