package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// CORS lets browser pages of the named origins call the API with a bearer
// token. Credentials (cookies) are never allowed, and no wildcard origin.
type CORS struct {
	AllowedOrigins []string
	AllowedHeaders []string      // default: Authorization, Content-Type
	AllowedMethods []string      // default: GET, POST
	MaxAge         time.Duration // default: 10 minutes
}

// WithCORS answers preflights and adds the Access-Control-* headers for the
// origins of c; with no origin, CORS stays off and browsers of other
// origins cannot read any answer.
func WithCORS(c CORS) Option {
	return func(s *Server) {
		if len(c.AllowedOrigins) == 0 {
			return
		}
		headers := c.AllowedHeaders
		if len(headers) == 0 {
			headers = []string{echo.HeaderAuthorization, echo.HeaderContentType}
		}
		methods := c.AllowedMethods
		if len(methods) == 0 {
			methods = []string{http.MethodGet, http.MethodPost}
		}
		maxAge := c.MaxAge
		if maxAge == 0 {
			maxAge = 10 * time.Minute
		}
		s.cors = middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     c.AllowedOrigins,
			AllowMethods:     methods,
			AllowHeaders:     headers,
			ExposeHeaders:    []string{echo.HeaderXRequestID, echo.HeaderRetryAfter, "RateLimit", "RateLimit-Policy"}, // limits.go
			AllowCredentials: false,
			MaxAge:           int(maxAge.Seconds()),
		})
	}
}
