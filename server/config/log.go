package config

import "slices"

// Log is how signgate writes its own log on stderr. The --log-level and
// --log-format flags of signgate serve override these.
type Log struct {
	// Level is debug, info (default), warn or error. At debug, each refused
	// credential logs why (docs/identity.md).
	Level string `json:"level"`
	// Format is json (default) or text.
	Format string `json:"format"`
}

// LogLevels and LogFormats are the accepted values of log.level and
// log.format.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "text"}
)

func (l Log) validate(p string, bad func(path, format string, args ...any)) {
	if l.Level != "" && !slices.Contains(LogLevels, l.Level) {
		bad(p+".level", "want debug, info, warn or error, got %q", l.Level)
	}
	if l.Format != "" && !slices.Contains(LogFormats, l.Format) {
		bad(p+".format", "want json or text, got %q", l.Format)
	}
}
