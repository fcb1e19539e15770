package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// logRequest writes the one "request" line of c. Its attributes are typed
// and live on the stack, so that the line costs no boxing of values; what
// it writes is what Logger.Info wrote with the same attributes.
func (s *Server) logRequest(c echo.Context, latency time.Duration) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := [7]slog.Attr{
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		slog.String("method", c.Request().Method),
		slog.String("route", c.Path()),
		slog.Int("status", c.Response().Status),
		slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
	}
	n := 5
	if p := principal(c); p.ID != "" {
		attrs[n] = slog.String("subject", p.ID)
		n++
	}
	if dc, _ := c.Get(decisionKey).(*decision); dc != nil && dc.id != "" {
		attrs[n] = slog.String("decision_id", dc.id)
		n++
	}
	if s.requestLogJSON != nil && writeRequestLine(s.requestLogJSON, time.Now(), attrs[:n]) { // requestline.go
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs[:n]...)
}
