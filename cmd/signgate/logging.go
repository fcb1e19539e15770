package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
)

// logFlags are serve's --log-level and --log-format; each, when given,
// wins over the configuration file's log section.
type logFlags struct{ level, format string }

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.level, "log-level", "", "`level` of the log on stderr: debug, info, warn or error (default: log.level, else info)")
	fs.StringVar(&f.format, "log-format", "", "`format` of the log on stderr: json or text (default: log.format, else json)")
	return f
}

// logSetup owns signgate's log on stderr: its buffered writer, its format
// and a level that can change while signgate runs.
type logSetup struct {
	out    *logWriter
	level  slog.LevelVar
	flags  logFlags
	format string
	logger *slog.Logger
}

// newLogSetup starts the log as the flags say, before the configuration
// is read, so that an unreadable configuration is already logged in the
// chosen format.
func newLogSetup(stderr io.Writer, f *logFlags, cmd string) (*logSetup, error) {
	if f.level != "" && !slices.Contains(config.LogLevels, f.level) {
		return nil, usagef(cmd, "--log-level: want %s, got %q", strings.Join(config.LogLevels, ", "), f.level)
	}
	if f.format != "" && !slices.Contains(config.LogFormats, f.format) {
		return nil, usagef(cmd, "--log-format: want %s, got %q", strings.Join(config.LogFormats, " or "), f.format)
	}
	l := &logSetup{out: newLogWriter(stderr, 100*time.Millisecond), flags: *f}
	l.level.Set(parseLevel(f.level))
	l.setFormat(cmp(f.format, "json"))
	return l, nil
}

func (l *logSetup) setFormat(format string) {
	opts := &slog.HandlerOptions{Level: &l.level}
	var h slog.Handler = slog.NewJSONHandler(l.out, opts)
	if format == "text" {
		h = slog.NewTextHandler(l.out, opts)
	}
	l.format, l.logger = format, slog.New(h)
}

// start applies the configuration's log section under the flags, writes
// the first line (which build is starting) and returns the logger to use
// from then on.
func (l *logSetup) start(c config.Log) *slog.Logger {
	if l.flags.format == "" && c.Format != "" && c.Format != l.format {
		l.setFormat(c.Format)
	}
	l.setLevel(c)
	l.logger.Info("signgate starting", readBuild().logAttrs()...)
	return l.logger
}

// apply sets the log level from a reloaded configuration's log section,
// unless --log-level was given. It is safe while signgate serves: the
// level takes effect from the next line. The format is fixed at start-up.
func (l *logSetup) apply(c config.Log) {
	if l.flags.format == "" && cmp(c.Format, "json") != l.format {
		l.logger.Warn("log.format changes at the next restart", "format", l.format, "configured", cmp(c.Format, "json"))
	}
	if l.setLevel(c) {
		// Written at warn at least, so that the change itself is seen.
		l.logger.Log(context.Background(), max(l.level.Level(), slog.LevelWarn), "log level changed", "level", cmp(c.Level, "info"))
	}
}

func (l *logSetup) setLevel(c config.Log) (changed bool) {
	if l.flags.level != "" {
		return false
	}
	lvl := parseLevel(c.Level)
	if lvl == l.level.Level() {
		return false
	}
	l.level.Set(lvl)
	return true
}

// fail writes a failure of serve as one log line, in the log's format,
// and marks it as reported so that main does not print it again. A
// usage error is left to main.
func (l *logSetup) fail(err error) error {
	var usage *usageError
	if err == nil || errors.As(err, &usage) {
		return err
	}
	l.logger.Error("signgate stopped", "err", err)
	return &reportedError{err: err}
}

func (l *logSetup) flush() { l.out.flush() }

// serverOptions lets the server write its request lines straight to the
// log's writer when the log is JSON: the lines are the JSON handler's,
// byte for byte, for a third of the CPU (server/requestline.go).
func (l *logSetup) serverOptions() []server.Option {
	if l.format != "json" {
		return nil
	}
	return []server.Option{server.WithRequestLogJSON(l.out)}
}

// Close writes out what is buffered.
func (l *logSetup) Close() error { return l.out.Close() }

// parseLevel maps a validated level name to slog's; empty is info.
func parseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func cmp(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
