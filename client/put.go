package client

import (
	"context"
	"io"
)

// Put writes a small object with one signed PUT. When the team's policy
// sets upload constraints a PUT URL cannot enforce (a 422
// constraint_unenforceable), it switches to the /v1/uploads flow, whose
// plan binds them.
func (c *Client) Put(ctx context.Context, team, object string, r io.ReaderAt, size int64, contentType string) (*UploadResult, error) {
	s, err := c.Sign(ctx, SignRequest{Team: team, Operation: "write", Object: object, ContentType: contentType})
	if IsUnenforceable(err) {
		return c.Upload(ctx, team, object, r, size, &UploadOptions{ContentType: contentType, Parallel: 1})
	}
	if err != nil {
		return nil, err
	}
	err = c.retry.do(ctx, func() error {
		_, err := c.send(ctx, "PUT", s.Method, s.URL, s.Headers, io.NewSectionReader(r, 0, size), size, s.DecisionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &UploadResult{Provider: s.Provider, Bucket: s.Bucket, Key: s.Key, Size: size, Parts: 1, DecisionID: s.DecisionID, ExpiresAt: s.ExpiresAt}, nil
}
