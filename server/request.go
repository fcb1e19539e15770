package server

import (
	"fmt"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/signgate/signgate/signer"
)

// signRequest is the body of /v1/sign and /v1/decide.
type signRequest struct {
	Team        string `json:"team"`
	Operation   string `json:"operation"`
	Object      string `json:"object"`
	ExpiresIn   *int64 `json:"expires_in,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// Form asks for a POST policy (a browser form upload) instead of a
	// PUT URL; write only.
	Form bool `json:"form,omitempty"`
}

// Limits on request fields.
const (
	maxTeamBytes        = 128
	maxContentTypeBytes = 256
	maxExpiresIn        = int64(signer.MaxTTL / 1e9)
)

// validate checks every field before the policy sees the request.
func (r *signRequest) validate() *apiError {
	if err := validateName("team", r.Team, maxTeamBytes); err != nil {
		return err
	}
	op := signer.Operation(r.Operation)
	if !op.Valid() {
		return invalid(`operation must be one of "read", "write" or "delete"`)
	}
	if err := signer.ValidateKey(r.Object); err != nil {
		return invalid("object: " + err.Error())
	}
	if err := validateExpiresIn(r.ExpiresIn); err != nil {
		return err
	}
	if r.Form && op != signer.OpWrite {
		return invalid("form applies only to write")
	}
	if r.ContentType != "" && op != signer.OpWrite {
		return invalid("content_type applies only to write")
	}
	return validateContentType(r.ContentType)
}

// validateExpiresIn accepts no expires_in, or 1 s to 7 days.
func validateExpiresIn(v *int64) *apiError {
	if v != nil && (*v < 1 || *v > maxExpiresIn) {
		return invalid(fmt.Sprintf("expires_in must be between 1 and %d seconds", maxExpiresIn))
	}
	return nil
}

// validateContentType accepts no content type, or a short media type.
func validateContentType(ct string) *apiError {
	switch {
	case ct == "":
		return nil
	case len(ct) > maxContentTypeBytes || strings.ContainsFunc(ct, unicode.IsControl):
		return invalid("content_type is too long or has control characters")
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return invalid("content_type is not a valid media type")
	}
	return nil
}

func validateName(field, v string, max int) *apiError {
	switch {
	case v == "":
		return invalid(field + " is required")
	case len(v) > max:
		return invalid(fmt.Sprintf("%s is longer than %d bytes", field, max))
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return invalid(field + " must be UTF-8 without control characters")
	}
	return nil
}
