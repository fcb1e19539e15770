package client

import (
	"context"
	"time"
)

// Flows of /v1/uploads.
const (
	FlowS3Multipart  = "s3_multipart"
	FlowAzureBlocks  = "azure_blocks"
	FlowGCSResumable = "gcs_resumable"
)

// Plan is the answer of POST /v1/uploads: the provider's chunked flow,
// every URL signed (docs/uploads.md).
type Plan struct {
	Flow                  string    `json:"flow"`
	UploadID              string    `json:"upload_id,omitempty"`
	Size                  int64     `json:"size"`
	PartSize              int64     `json:"part_size"`
	Parts                 []Part    `json:"parts"`
	Start                 *Call     `json:"start,omitempty"`
	Complete              *Call     `json:"complete,omitempty"`
	Abort                 *Call     `json:"abort,omitempty"`
	ExpiresAt             time.Time `json:"expires_at"`
	ExpiryClampedBy       string    `json:"expiry_clamped_by,omitempty"`
	UnenforcedConstraints []string  `json:"unenforced_constraints,omitempty"`
	DecisionID            string    `json:"decision_id"`
	Provider              string    `json:"provider"`
	Bucket                string    `json:"bucket"`
	Key                   string    `json:"key"`
}

// Part is bytes [Offset, Offset+Length) of the object.
type Part struct {
	PartNumber int               `json:"part_number"`
	Offset     int64             `json:"offset"`
	Length     int64             `json:"length"`
	BlockID    string            `json:"block_id,omitempty"`
	URL        string            `json:"url,omitempty"` // empty for GCS: the session URI
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`
}

// Call is a request of the flow besides the parts.
type Call struct {
	URL          string            `json:"url"`
	Method       string            `json:"method"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body,omitempty"`
	BodyTemplate string            `json:"body_template,omitempty"`
}

// PlanRequest is the body of POST /v1/uploads.
type PlanRequest struct {
	Team        string `json:"team"`
	Object      string `json:"object"`
	Size        int64  `json:"size"`
	PartSize    int64  `json:"part_size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
}

// PlanUpload asks for the signed plan of an upload without moving a byte.
func (c *Client) PlanUpload(ctx context.Context, req PlanRequest) (*Plan, error) {
	var p Plan
	if err := c.post(ctx, "/v1/uploads", req, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
