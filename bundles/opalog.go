package bundles

import (
	"fmt"
	"log/slog"

	"github.com/open-policy-agent/opa/v1/logging"
)

// NewOPALogger writes the logs of OPA's plugins (bundle downloads,
// decision-log uploads) through slog. OPA's info messages are routine
// ("Logs uploaded successfully.", each download), so they are debug here;
// warnings and errors stay what they are.
func NewOPALogger(l *slog.Logger) logging.Logger { return opaLogger{l} }

type opaLogger struct{ l *slog.Logger }

func (o opaLogger) Debug(f string, a ...any) { o.l.Debug(fmt.Sprintf(f, a...)) }
func (o opaLogger) Info(f string, a ...any)  { o.l.Debug(fmt.Sprintf(f, a...)) }
func (o opaLogger) Warn(f string, a ...any)  { o.l.Warn(fmt.Sprintf(f, a...)) }
func (o opaLogger) Error(f string, a ...any) { o.l.Error(fmt.Sprintf(f, a...)) }

func (o opaLogger) WithFields(fields map[string]any) logging.Logger {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	return opaLogger{o.l.With(args...)}
}

func (opaLogger) GetLevel() logging.Level { return logging.Info }
func (opaLogger) SetLevel(logging.Level)  {}
