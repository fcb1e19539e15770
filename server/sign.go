package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/signgate/signgate/signer"
)

// signDecision signs what an allowed decision grants: a URL, or a POST
// policy when the request asked for a form. It is everything /v1/sign does
// after the policy, shared with /v1/sign/batch, and safe for concurrent
// use. The expiry is the earliest of the policy's TTL, the provider's limit
// and the signing credential's own expiry, and the response says which
// one cut it short.
func (s *Server) signDecision(ctx context.Context, dc *decision) (*signResponse, error) {
	d, act := &dc.d, &dc.input.Action
	sg, err := s.signerFor(d)
	if err != nil {
		return nil, err
	}
	if err := spendItems(ctx, sg.Provider(), 1, 1); err != nil { // limits.go: RSA costs more
		return nil, err
	}
	cs := d.Constraints
	ipRange, network := bindNetwork(sg, cs.IPRange, !act.Form)
	ttl, clampedBy := signer.ClampTTL(d.TTL)
	resp := &signResponse{
		DecisionID: dc.id, Provider: sg.Provider(), Bucket: sg.Bucket(), Key: d.Key, Network: network,
	}
	if act.Form {
		fs, ok := sg.(signer.FormSigner)
		if !ok {
			return nil, problem(http.StatusUnprocessableEntity, codeUnsupported, "the provider has no POST policy for browser form uploads", nil)
		}
		b, perr := bind(sg, signer.FlowForm, cs, act.ContentType, 0)
		if perr != nil {
			return nil, perr
		}
		start := time.Now()
		form, err := fs.SignForm(ctx, signer.FormGrant{
			Key: d.Key, TTL: ttl, MaxBytes: b.maxBytes, ContentType: b.contentType, ContentTypePrefix: b.ctPrefix,
		})
		dc.signTime = time.Since(start)
		if err != nil {
			return nil, signProblem(err)
		}
		resp.URL, resp.Method, resp.Fields, resp.ExpiresAt = form.URL, http.MethodPost, form.Fields, form.ExpiresAt.UTC()
		resp.Headers = map[string]string{}
		resp.UnenforcedConstraints = b.unenforced
		resp.ExpiryClampedBy = firstNonEmpty(form.ClampedBy, clampedBy)
		dc.issued = issued{expiresAt: resp.ExpiresAt, provider: resp.Provider, bucket: resp.Bucket, clampedBy: resp.ExpiryClampedBy}
		return resp, nil
	}
	b := binding{unenforced: cs.UnknownNames()}
	if d.Operation == string(signer.OpWrite) {
		// Only a write has content to limit; a read or a delete keeps just
		// the advisory constraints nobody enforces.
		var perr *apiError
		if b, perr = bind(sg, signer.FlowURL, cs, act.ContentType, 0); perr != nil {
			return nil, perr
		}
	}
	start := time.Now()
	signed, err := sg.Sign(ctx, signer.Grant{
		Key:         d.Key,
		Operation:   signer.Operation(d.Operation),
		TTL:         ttl,
		ContentType: b.contentType,
		ContentMD5:  b.contentMD5,
		DecisionID:  dc.id,
		IPRange:     ipRange,
	})
	dc.signTime = time.Since(start)
	if err != nil {
		return nil, signProblem(err)
	}
	resp.URL, resp.Method, resp.ExpiresAt = signed.URL, signed.Method, signed.ExpiresAt.UTC()
	resp.Headers = signed.Headers
	if resp.Headers == nil {
		resp.Headers = map[string]string{} // the answer's headers are {}, never null
	}
	resp.UnenforcedConstraints = b.unenforced
	resp.ExpiryClampedBy = firstNonEmpty(signed.ClampedBy, clampedBy)
	dc.issued = issued{expiresAt: resp.ExpiresAt, provider: resp.Provider, bucket: resp.Bucket, clampedBy: resp.ExpiryClampedBy}
	return resp, nil
}

// signProblem maps a signer's failure to the client's problem; the cause
// is only logged.
func signProblem(err error) *apiError {
	switch {
	case errors.Is(err, signer.ErrUnsupported):
		return problem(http.StatusUnprocessableEntity, codeUnsupported, "the provider cannot enforce this request in a URL", err)
	case errors.Is(err, signer.ErrInvalidPlan):
		return problem(http.StatusBadRequest, codeInvalidRequest, "the provider cannot carry this upload: "+planDetail(err), err)
	case errors.Is(err, signer.ErrUnavailable):
		return problem(http.StatusServiceUnavailable, codeSignerError, "the signing service did not answer in time or refused; try again", err)
	case errors.Is(err, signer.ErrCredentialExpiring):
		return problem(http.StatusServiceUnavailable, codeSignerError, "the signing credential expires too soon and could not be refreshed; try again", err)
	}
	return problem(http.StatusBadGateway, codeSignerError, "the URL could not be signed", err)
}

// firstNonEmpty is the signer's reason when it has one: a credential that
// expires first also cuts below the provider's limit.
func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
