package config

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS lets browser pages from the listed origins call the API
// (docs/browser.md). It is off while AllowedOrigins is empty. Requests
// carry a bearer token, never cookies, so credentials are not allowed and
// an origin is always named: "*" is refused.
type CORS struct {
	AllowedOrigins []string `json:"allowed_origins"`
	// AllowedHeaders default to Authorization and Content-Type.
	AllowedHeaders []string `json:"allowed_headers"`
	// AllowedMethods default to GET and POST.
	AllowedMethods []string `json:"allowed_methods"`
	// MaxAge is how long a browser may cache a preflight; default 10m.
	MaxAge Duration `json:"max_age"`
}

func (c CORS) validate(p string, bad func(path, format string, args ...any)) {
	for i, o := range c.AllowedOrigins {
		path := fmt.Sprintf("%s.allowed_origins[%d]", p, i)
		if strings.Contains(o, "*") {
			bad(path, "wildcards are refused: name every origin (scheme://host[:port])")
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			bad(path, "want an origin such as https://app.example.com, got %q", o)
		}
	}
	for i, m := range c.AllowedMethods {
		switch strings.ToUpper(m) {
		case http.MethodGet, http.MethodPost, http.MethodHead:
		default:
			bad(fmt.Sprintf("%s.allowed_methods[%d]", p, i), "the API has GET, HEAD and POST routes only, got %q", m)
		}
	}
	if c.MaxAge.Duration < 0 {
		bad(p+".max_age", "must not be negative")
	}
}

// Check is validate for a CORS section outside a configuration file (the
// origins of signgate cors).
func (c CORS) Check() error {
	var errs []string
	c.validate("origin", func(path, format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
