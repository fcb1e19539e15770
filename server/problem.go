package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Stable error codes. Clients switch on these, never on titles or details.
const (
	codeInvalidRequest  = "invalid_request"
	codeUnauthenticated = "unauthenticated"
	codeDenied          = "denied"
	codeNotFound        = "not_found"
	codeMethod          = "method_not_allowed"
	codeTooLarge        = "payload_too_large"
	codeUnsupported     = "unsupported_by_provider"
	codePolicyError     = "policy_error"
	codeSignerError     = "signer_error"
	codeNotReady        = "not_ready"
	codeInternal        = "internal_error"
)

// Codes of the policy's constraints on writes (docs/policy.md).
const (
	// codeUnenforceable: the policy set a constraint that the flow cannot
	// make the storage server enforce, and did not mark it advisory.
	codeUnenforceable = "constraint_unenforceable"
	// codeConstraintViolated: the request itself breaks a constraint.
	codeConstraintViolated = "constraint_violated"
)

// problemDetails is an RFC 9457 problem document.
type problemDetails struct {
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Status     int      `json:"status"`
	Detail     string   `json:"detail,omitempty"`
	Code       string   `json:"code"`
	Reasons    []string `json:"reasons,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
}

// apiError is a handler error: the problem shown to the client, and the cause
// that is only logged. Keeping them apart means no internal detail leaks.
type apiError struct {
	Problem problemDetails
	Cause   error
}

func (e *apiError) Error() string {
	if e.Cause != nil {
		return e.Problem.Code + ": " + e.Cause.Error()
	}
	return e.Problem.Code + ": " + e.Problem.Detail
}

func (e *apiError) Unwrap() error { return e.Cause }

func problem(status int, code, detail string, cause error) *apiError {
	return &apiError{Problem: problemDetails{
		Type:   "urn:signgate:problem:" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}, Cause: cause}
}

func invalid(detail string) *apiError {
	return problem(http.StatusBadRequest, codeInvalidRequest, detail, nil)
}

// asProblem is the problem err carries: its own, Echo's, or a 500 that
// keeps err as the logged cause.
func asProblem(err error) *apiError {
	var pe *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &he):
		return fromEchoError(he)
	default:
		return problem(http.StatusInternalServerError, codeInternal, "internal error", err)
	}
}

// errorHandler is the one place where errors become responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		pe := asProblem(err)
		p := pe.Problem
		p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		if p.Status >= 500 {
			log.Error("request failed", "request_id", p.RequestID, "code", p.Code, "err", errString(pe.Cause))
		}
		c.Response().Header()[echo.HeaderContentType] = contentTypeProblem
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		writeProblem(c.Response(), &p) // respond.go
	}
}

func fromEchoError(he *echo.HTTPError) *apiError {
	switch he.Code {
	case http.StatusNotFound:
		return problem(he.Code, codeNotFound, "no such route", nil)
	case http.StatusMethodNotAllowed:
		return problem(he.Code, codeMethod, "method not allowed on this route", nil)
	case http.StatusRequestEntityTooLarge:
		return problem(he.Code, codeTooLarge, "request body is too large", nil)
	case http.StatusUnauthorized:
		return problem(he.Code, codeUnauthenticated, "missing or invalid credentials", nil)
	}
	if he.Code >= 400 && he.Code < 500 {
		return problem(he.Code, codeInvalidRequest, http.StatusText(he.Code), nil)
	}
	return problem(http.StatusInternalServerError, codeInternal, "internal error", he)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
