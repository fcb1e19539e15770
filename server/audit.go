package server

import (
	"context"

	"github.com/signgate/signgate/server/audit"
)

// Record is one decision record; see audit.Record. The audit pipeline turns
// it into an OPA decision-log event off the request path.
type Record = audit.Record

// Auditor stores decision records. A best_effort auditor never fails. A
// strict one returns an error wrapping audit.ErrUnavailable when the
// record was not stored, and then the caller must not hand out what the
// record describes.
type Auditor interface {
	Record(ctx context.Context, r *Record) error
}

// Discard drops records; for the "none" sink.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, *Record) error { return nil }

// codeAuditUnavailable: strict audit mode could not store the decision
// record, so the response carries no URL.
const codeAuditUnavailable = audit.CodeUnavailable
