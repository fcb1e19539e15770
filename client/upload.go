package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// UploadOptions tunes Upload. The zero value uploads in signgate's default
// parts, four at a time.
type UploadOptions struct {
	PartSize    int64  // bytes per part; 0: the server's default (8 MiB)
	ContentType string // stored with the object, when the provider can bind it
	ExpiresIn   int64  // lifetime of the plan's URLs in seconds; 0: the policy's
	Parallel    int    // parts in flight at once; 0: 4. GCS sends its chunks in order.

	// Progress, when set, is called from the transfer's goroutines with
	// the bytes the storage server has accepted so far.
	Progress func(done, total int64)

	// Resume continues an upload from the state a previous, interrupted
	// Upload reported through OnState, when it is for the same object and
	// size and its URLs are valid for another minute; otherwise a new plan
	// is asked for.
	Resume *UploadState
	// OnState, when set, is called after every part the storage server
	// accepted, with a copy of the state to save for Resume.
	OnState func(*UploadState)
	// KeepOnFailure keeps a failed S3 multipart upload for a later Resume
	// instead of aborting it. An upload stopped by its context is never
	// aborted.
	KeepOnFailure bool
}

// UploadState is what an interrupted upload needs to go on: its plan and
// the parts already stored. It is plain JSON, to be saved in a file.
type UploadState struct {
	Plan    Plan           `json:"plan"`
	Done    map[int]string `json:"done"`              // part number -> ETag ("" when the flow has none)
	Session string         `json:"session,omitempty"` // GCS: the resumable session URI
}

func (s *UploadState) clone() *UploadState {
	c := &UploadState{Plan: s.Plan, Session: s.Session, Done: make(map[int]string, len(s.Done))}
	for k, v := range s.Done {
		c.Done[k] = v
	}
	return c
}

// UploadResult describes a stored object.
type UploadResult struct {
	Provider   string
	Bucket     string
	Key        string
	Size       int64
	Parts      int
	Resumed    int // parts that a previous attempt had stored
	DecisionID string
	ExpiresAt  time.Time
}

// Upload writes size bytes of r to object in team's bucket through the
// /v1/uploads plan of its provider: S3 multipart, Azure blocks and block
// list, or a GCS resumable session. Parts go in parallel (GCS chunks in
// order), each retried with backoff; part checksums are compared where the
// storage server returns one. When it gives up on an S3 upload it aborts
// it, unless KeepOnFailure. A denial is an *Error (IsDenied).
func (c *Client) Upload(ctx context.Context, team, object string, r io.ReaderAt, size int64, opts *UploadOptions) (*UploadResult, error) {
	if opts == nil {
		opts = &UploadOptions{}
	}
	var st *UploadState
	if r := opts.Resume; r != nil && time.Until(r.Plan.ExpiresAt) > time.Minute && r.Plan.Size == size &&
		(r.Plan.Key == object || strings.HasSuffix(r.Plan.Key, "/"+object)) {
		st = opts.Resume.clone()
	} else {
		plan, err := c.PlanUpload(ctx, PlanRequest{
			Team: team, Object: object, Size: size, PartSize: opts.PartSize,
			ContentType: opts.ContentType, ExpiresIn: opts.ExpiresIn,
		})
		if err != nil {
			return nil, err
		}
		st = &UploadState{Plan: *plan, Done: map[int]string{}}
	}
	u := &upload{c: c, r: r, opts: opts, st: st, total: size}
	resumed := len(st.Done)
	for _, p := range st.Plan.Parts {
		if _, ok := st.Done[p.PartNumber]; ok {
			u.done.Add(p.Length)
		}
	}
	u.progress(0)
	var err error
	switch st.Plan.Flow {
	case FlowS3Multipart, FlowAzureBlocks:
		err = u.parallel(ctx)
		if err == nil {
			err = c.retry.do(ctx, func() error { return u.complete(ctx) })
		}
		if err != nil && ctx.Err() == nil && !opts.KeepOnFailure {
			u.abort()
		}
	case FlowGCSResumable:
		err = u.gcs(ctx)
	default:
		err = fmt.Errorf("signgate: unknown upload flow %q; update the client", st.Plan.Flow)
	}
	if err != nil {
		return nil, &UploadError{State: u.state(), Err: err}
	}
	p := st.Plan
	return &UploadResult{Provider: p.Provider, Bucket: p.Bucket, Key: p.Key, Size: size, Parts: len(p.Parts),
		Resumed: resumed, DecisionID: p.DecisionID, ExpiresAt: p.ExpiresAt}, nil
}

// UploadError is an upload that did not finish, with the state to resume it
// from.
type UploadError struct {
	State *UploadState
	Err   error
}

func (e *UploadError) Error() string {
	return fmt.Sprintf("upload %s: %d of %d parts stored: %v", e.State.Plan.Key, len(e.State.Done), len(e.State.Plan.Parts), e.Err)
}
func (e *UploadError) Unwrap() error { return e.Err }

// upload is one Upload in progress.
type upload struct {
	c     *Client
	r     io.ReaderAt
	opts  *UploadOptions
	total int64
	done  atomic.Int64

	mu sync.Mutex
	st *UploadState
}

func (u *upload) progress(n int64) {
	d := u.done.Add(n)
	if u.opts.Progress != nil {
		u.opts.Progress(d, u.total)
	}
}

func (u *upload) state() *UploadState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st.clone()
}

// stored records a part the storage server accepted.
func (u *upload) stored(p Part, etag string) {
	u.mu.Lock()
	u.st.Done[p.PartNumber] = etag
	snap := u.st.clone()
	u.mu.Unlock()
	u.progress(p.Length)
	if u.opts.OnState != nil {
		u.opts.OnState(snap)
	}
}

// parallel sends every part not yet stored through a bounded pool; the
// first part that fails for good stops the others.
func (u *upload) parallel(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := u.opts.Parallel
	if n <= 0 {
		n = 4
	}
	todo := make(chan Part)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for p := range todo {
				if err := u.part(ctx, p); err != nil {
					cancel(err)
				}
			}
		})
	}
	u.mu.Lock()
	parts := u.st.Plan.Parts
	done := u.st.Done
	var pending []Part
	for _, p := range parts {
		if _, ok := done[p.PartNumber]; !ok {
			pending = append(pending, p)
		}
	}
	u.mu.Unlock()
feed:
	for _, p := range pending {
		select {
		case todo <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// part sends one part with retries and keeps its ETag.
func (u *upload) part(ctx context.Context, p Part) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("part %d: panic: %v", p.PartNumber, r)
		}
	}()
	var etag string
	headers := p.Headers
	if u.st.Plan.Flow == FlowAzureBlocks {
		// Azure checks a block against its Content-MD5 on receipt and
		// refuses it (Md5Mismatch) when the bytes differ.
		sum, err := partMD5(u.r, p)
		if err != nil {
			return err
		}
		headers = map[string]string{"Content-MD5": sum}
		for k, v := range p.Headers {
			headers[k] = v
		}
	}
	err = u.c.retry.do(ctx, func() error {
		ans, err := u.c.send(ctx, fmt.Sprintf("part %d", p.PartNumber), p.Method, p.URL, headers,
			io.NewSectionReader(u.r, p.Offset, p.Length), p.Length, u.st.Plan.DecisionID)
		if err != nil {
			return err
		}
		if err := verifyPart(ans, u.r, p); err != nil {
			return err
		}
		etag = ans.header.Get("ETag")
		return nil
	})
	if err != nil {
		return err
	}
	if u.st.Plan.Flow == FlowS3Multipart && etag == "" {
		return &StorageError{Op: fmt.Sprintf("part %d", p.PartNumber), Status: 200, Message: "no ETag in the answer (is ETag an exposed header?)", DecisionID: u.st.Plan.DecisionID}
	}
	u.stored(p, etag)
	return nil
}

// complete assembles the parts: CompleteMultipartUpload or Put Block List.
func (u *upload) complete(ctx context.Context) error {
	st := u.state()
	call := st.Plan.Complete
	if call == nil {
		return nil
	}
	body := call.Body
	if call.BodyTemplate != "" {
		body = fillTemplate(call.BodyTemplate, st.Done)
	}
	ans, err := u.c.send(ctx, "complete", call.Method, call.URL, call.Headers, stringsReader(body), int64(len(body)), st.Plan.DecisionID)
	if err != nil {
		return err
	}
	// CompleteMultipartUpload answers 200 and only then assembles the
	// object; a failure after that is an <Error> in the 200's body.
	if e := xmlError(ans.body); e != nil {
		e.Op, e.DecisionID = "complete", st.Plan.DecisionID
		if e.Code == "InternalError" || e.Code == "SlowDown" {
			e.Status = 500
		}
		return e
	}
	return nil
}

// abort gives up an S3 multipart upload, so that its parts are not kept
// (and billed) until a lifecycle rule removes them.
func (u *upload) abort() {
	call := u.st.Plan.Abort
	if call == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = u.c.retry.do(ctx, func() error {
		_, err := u.c.send(ctx, "abort", call.Method, call.URL, call.Headers, nil, 0, u.st.Plan.DecisionID)
		var se *StorageError
		if errors.As(err, &se) && se.Status == 404 {
			return nil // already gone
		}
		return err
	})
}
