package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/signer"
)

// uploadRequest is the body of POST /v1/uploads: one object of size bytes
// to write in parts.
type uploadRequest struct {
	Team        string `json:"team"`
	Object      string `json:"object"`
	Size        int64  `json:"size"`
	PartSize    int64  `json:"part_size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	ExpiresIn   *int64 `json:"expires_in,omitempty"`
}

// validate checks every field, sizes included, before the policy sees the
// request. The part-size rules are S3's (signer.PlanParts), which every
// provider's flow can follow; a provider's stricter rule is checked after
// the policy has chosen the provider.
func (r *uploadRequest) validate() *apiError {
	if err := validateName("team", r.Team, maxTeamBytes); err != nil {
		return err
	}
	if err := signer.ValidateKey(r.Object); err != nil {
		return invalid("object: " + err.Error())
	}
	if r.Size == 0 {
		return invalid("size is required: the object's size in bytes")
	}
	if r.PartSize < 0 {
		return invalid("part_size must be positive")
	}
	if _, _, err := signer.PlanParts(r.Size, r.PartSize); err != nil {
		return invalid(planDetail(err))
	}
	if err := validateExpiresIn(r.ExpiresIn); err != nil {
		return err
	}
	return validateContentType(r.ContentType)
}

// planDetail is the client's part of a signer.ErrInvalidPlan: what is
// wrong with the sizes, without the signer's wrapping.
func planDetail(err error) string {
	_, why, ok := strings.Cut(err.Error(), signer.ErrInvalidPlan.Error()+": ")
	if !ok {
		return "invalid size or part_size"
	}
	return why
}

// buildUploadInput is buildInput for an upload: a write of the object,
// with its size in input.action.size. It is pure.
func buildUploadInput(p Principal, r *uploadRequest, ip, userAgent string, now time.Time) authz.Input {
	in := buildInput(p, &signRequest{
		Team: r.Team, Operation: string(signer.OpWrite), Object: r.Object,
		ExpiresIn: r.ExpiresIn, ContentType: r.ContentType,
	}, ip, userAgent, now)
	in.Action.Size = r.Size
	return in
}

// uploadResponse is the 200 answer of /v1/uploads: the provider's native
// chunked flow, every URL signed for the same lifetime.
type uploadResponse struct {
	Flow                  string       `json:"flow"`
	UploadID              string       `json:"upload_id,omitempty"`
	Size                  int64        `json:"size"`
	PartSize              int64        `json:"part_size"`
	Parts                 []uploadPart `json:"parts"`
	Start                 *uploadCall  `json:"start,omitempty"`
	Complete              *uploadCall  `json:"complete,omitempty"`
	Abort                 *uploadCall  `json:"abort,omitempty"`
	ExpiresAt             time.Time    `json:"expires_at"`
	ExpiryClampedBy       string       `json:"expiry_clamped_by,omitempty"`
	UnenforcedConstraints []string     `json:"unenforced_constraints,omitempty"`
	// Network is as SignResponse.Network: the range the policy limited the
	// upload to, and who enforces it.
	Network    *networkBinding `json:"network,omitempty"`
	DecisionID string          `json:"decision_id"`
	Provider   string          `json:"provider"`
	Bucket     string          `json:"bucket"`
	Key        string          `json:"key"`
}

// uploadPart is one part: bytes [offset, offset+length) of the object.
type uploadPart struct {
	PartNumber int               `json:"part_number"`
	Offset     int64             `json:"offset"`
	Length     int64             `json:"length"`
	BlockID    string            `json:"block_id,omitempty"`
	URL        string            `json:"url,omitempty"`
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`
}

// uploadCall is a request of the flow besides the parts.
type uploadCall struct {
	URL          string            `json:"url"`
	Method       string            `json:"method"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body,omitempty"`
	BodyTemplate string            `json:"body_template,omitempty"`
}

// upload is POST /v1/uploads.
func (s *Server) upload(c echo.Context, dc *decision) (any, error) {
	var req uploadRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit, &req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	r := c.Request()
	if err := spendItems(r.Context(), "", uploadParts(&req), 1); err != nil { // limits.go: one item per part
		return nil, err
	}
	if err := s.decideInto(r.Context(), dc, buildUploadInput(principal(c), &req, c.RealIP(), r.UserAgent(), s.now())); err != nil {
		return nil, err
	}
	if !dc.d.Allow {
		return nil, denied(dc)
	}
	return s.startUpload(r.Context(), dc, &req)
}

// startUpload starts the chunked flow an allowed decision grants.
func (s *Server) startUpload(ctx context.Context, dc *decision, req *uploadRequest) (*uploadResponse, error) {
	d := &dc.d
	sg, err := s.signerFor(d)
	if err != nil {
		return nil, err
	}
	if n := uploadParts(req); sg.Provider() == "gcs" {
		if err := spendItems(ctx, sg.Provider(), n, n); err != nil { // limits.go: RSA costs more
			return nil, err
		}
	}
	up, ok := sg.(signer.Uploader)
	if !ok {
		return nil, problem(http.StatusUnprocessableEntity, codeUnsupported, "the provider has no chunked upload flow", nil)
	}
	b, perr := bind(sg, signer.FlowUpload, d.Constraints, req.ContentType, req.Size)
	if perr != nil {
		return nil, perr
	}
	ttl, clampedBy := signer.ClampTTL(d.TTL)
	// As /v1/sign: the range is signed into every URL a signer can bind it
	// to (Azure's sip), and reported either way.
	ipRange, network := bindNetwork(sg, d.Constraints.IPRange, true)
	start := time.Now()
	u, err := up.StartUpload(ctx, signer.UploadGrant{
		Key: d.Key, Size: req.Size, PartSize: req.PartSize, TTL: ttl, ContentType: b.contentType, DecisionID: dc.id,
		IPRange: ipRange,
	})
	dc.signTime = time.Since(start)
	if err != nil {
		if errors.Is(err, signer.ErrUnsupported) {
			return nil, problem(http.StatusUnprocessableEntity, codeUnsupported, "the provider cannot enforce this upload's content_type", err)
		}
		return nil, signProblem(err)
	}
	resp := &uploadResponse{
		Flow: u.Flow, UploadID: u.UploadID, Size: req.Size, PartSize: u.PartSize,
		Parts:     make([]uploadPart, len(u.Parts)),
		Start:     toUploadCall(u.Start),
		Complete:  toUploadCall(u.Complete),
		Abort:     toUploadCall(u.Abort),
		ExpiresAt: u.ExpiresAt.UTC(), ExpiryClampedBy: firstNonEmpty(u.ClampedBy, clampedBy),
		UnenforcedConstraints: b.unenforced, Network: network,
		DecisionID: dc.id, Provider: sg.Provider(), Bucket: sg.Bucket(), Key: d.Key,
	}
	for i, p := range u.Parts {
		resp.Parts[i] = uploadPart{
			PartNumber: p.Number, Offset: p.Offset, Length: p.Length, BlockID: p.BlockID,
			URL: p.URL, Method: p.Method, Headers: nonNil(p.Headers),
		}
	}
	dc.issued = issued{expiresAt: resp.ExpiresAt, provider: resp.Provider, bucket: resp.Bucket, clampedBy: resp.ExpiryClampedBy}
	return resp, nil
}

func toUploadCall(c *signer.Call) *uploadCall {
	if c == nil {
		return nil
	}
	return &uploadCall{URL: c.URL, Method: c.Method, Headers: nonNil(c.Headers), Body: c.Body, BodyTemplate: c.BodyTemplate}
}

func nonNil(h map[string]string) map[string]string {
	if h == nil {
		return map[string]string{}
	}
	return h
}

// uploadParts is the number of parts of a valid request.
func uploadParts(req *uploadRequest) int {
	parts, _, _ := signer.PlanParts(req.Size, req.PartSize)
	return max(len(parts), 1)
}
