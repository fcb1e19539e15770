package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Stable error codes. Clients switch on these, never on titles or details.
const (
	CodeInvalidRequest  = "invalid_request"
	CodeUnauthenticated = "unauthenticated"
	CodeDenied          = "denied"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
	CodeTooLarge        = "payload_too_large"
	CodeUnsupported     = "unsupported_by_provider"
	CodePolicyError     = "policy_error"
	CodeSignerError     = "signer_error"
	CodeNotReady        = "not_ready"
	CodeInternal        = "internal_error"
)

// Codes of the policy's constraints on writes (docs/policy.md).
const (
	// CodeUnenforceable: the policy set a constraint that the flow cannot
	// make the storage server enforce, and did not mark it advisory.
	CodeUnenforceable = "constraint_unenforceable"
	// CodeConstraintViolated: the request itself breaks a constraint.
	CodeConstraintViolated = "constraint_violated"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Status     int      `json:"status"`
	Detail     string   `json:"detail,omitempty"`
	Code       string   `json:"code"`
	Reasons    []string `json:"reasons,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
}

// Error is a handler error: the problem shown to the client, and the cause
// that is only logged. Keeping them apart means no internal detail leaks.
type Error struct {
	Problem Problem
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Problem.Code + ": " + e.Cause.Error()
	}
	return e.Problem.Code + ": " + e.Problem.Detail
}

func (e *Error) Unwrap() error { return e.Cause }

func problem(status int, code, detail string, cause error) *Error {
	return &Error{Problem: Problem{
		Type:   "urn:signgate:problem:" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}, Cause: cause}
}

func invalid(detail string) *Error {
	return problem(http.StatusBadRequest, CodeInvalidRequest, detail, nil)
}

// asProblem is the problem err carries: its own, Echo's, or a 500 that
// keeps err as the logged cause.
func asProblem(err error) *Error {
	var pe *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &he):
		return fromEchoError(he)
	default:
		return problem(http.StatusInternalServerError, CodeInternal, "internal error", err)
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
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = encodeJSON(c.Response(), p)
	}
}

func fromEchoError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return problem(he.Code, CodeNotFound, "no such route", nil)
	case http.StatusMethodNotAllowed:
		return problem(he.Code, CodeMethod, "method not allowed on this route", nil)
	case http.StatusRequestEntityTooLarge:
		return problem(he.Code, CodeTooLarge, "request body is too large", nil)
	case http.StatusUnauthorized:
		return problem(he.Code, CodeUnauthenticated, "missing or invalid credentials", nil)
	}
	if he.Code >= 400 && he.Code < 500 {
		return problem(he.Code, CodeInvalidRequest, http.StatusText(he.Code), nil)
	}
	return problem(http.StatusInternalServerError, CodeInternal, "internal error", he)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
