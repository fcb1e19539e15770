package server

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// routeEchoLogs sends Echo's own logger and the HTTP server's error log
// into signgate's log on stderr. Both write to stdout by default, where
// the console audit sink writes decision records and nothing else.
func (s *Server) routeEchoLogs(e *echo.Echo) {
	h := s.log.With("component", "http").Handler()
	e.Logger.SetHeader("${short_file}:${line}")
	e.Logger.SetOutput(slog.NewLogLogger(h, slog.LevelError).Writer())
	e.StdLogger = slog.NewLogLogger(h, slog.LevelWarn)
}

// recoverPanics turns a panic in a handler into a 500 problem and one
// error line with the request id and the stack; the client sees neither.
func (s *Server) recoverPanics() echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic recovered",
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"route", c.Path(), "err", err, "stack", string(stack))
			return err
		},
	})
}
