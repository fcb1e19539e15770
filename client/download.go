package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DownloadOptions tunes Download.
type DownloadOptions struct {
	PartSize int64 // bytes per ranged GET; 0: 8 MiB
	Parallel int   // ranges in flight at once; 0: 4
	// Progress, when set, is called with the bytes written so far.
	Progress func(done, total int64)
	// Resume continues from the state a previous Download reported
	// through OnState; ranges already written are not fetched again.
	Resume *DownloadState
	// OnState, when set, is called after every range written.
	OnState func(*DownloadState)
}

// DownloadState is what an interrupted download needs to go on.
type DownloadState struct {
	Size     int64        `json:"size"`
	PartSize int64        `json:"part_size"`
	ETag     string       `json:"etag,omitempty"`
	Done     map[int]bool `json:"done"` // range index -> written
}

// Download reads object from team's bucket into w with ranged GETs, in
// parallel, through one signed read URL, and returns its size. Every
// range must come from the same version of the object (its ETag).
func (c *Client) Download(ctx context.Context, team, object string, w io.WriterAt, opts *DownloadOptions) (int64, error) {
	if opts == nil {
		opts = &DownloadOptions{}
	}
	s, err := c.Sign(ctx, SignRequest{Team: team, Operation: "read", Object: object})
	if err != nil {
		return 0, err
	}
	partSize := opts.PartSize
	if partSize <= 0 {
		partSize = 8 << 20
	}
	d := &download{c: c, s: s, w: w, opts: opts}
	if r := opts.Resume; r != nil && r.PartSize > 0 {
		d.st = DownloadState{Size: r.Size, PartSize: r.PartSize, ETag: r.ETag, Done: map[int]bool{}}
		for k, v := range r.Done {
			d.st.Done[k] = v
		}
	} else {
		// The first range tells the size and the version.
		d.st = DownloadState{PartSize: partSize, Size: -1, Done: map[int]bool{}}
		if err := c.retry.do(ctx, func() error { return d.fetch(ctx, 0) }); err != nil {
			return 0, err
		}
	}
	n := int((d.st.Size + d.st.PartSize - 1) / d.st.PartSize)
	for i := range n {
		if d.st.Done[i] {
			d.done.Add(d.rangeLen(i))
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	todo := make(chan int)
	var wg sync.WaitGroup
	workers := opts.Parallel
	if workers <= 0 {
		workers = 4
	}
	for range workers {
		wg.Go(func() {
			for i := range todo {
				if err := c.retry.do(ctx, func() error { return d.fetch(ctx, i) }); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		if d.isDone(i) {
			continue
		}
		select {
		case todo <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, &DownloadError{State: d.state(), Err: err}
	}
	return d.st.Size, nil
}

// DownloadError is a download that did not finish, with the state to
// resume it from.
type DownloadError struct {
	State *DownloadState
	Err   error
}

func (e *DownloadError) Error() string { return "download: " + e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }

type download struct {
	c    *Client
	s    *Signed
	w    io.WriterAt
	opts *DownloadOptions
	done atomic.Int64

	mu sync.Mutex
	st DownloadState
}

func (d *download) rangeLen(i int) int64 {
	return min(d.st.PartSize, d.st.Size-int64(i)*d.st.PartSize)
}

func (d *download) isDone(i int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Done[i]
}

func (d *download) state() *DownloadState {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.st
	c.Done = make(map[int]bool, len(d.st.Done))
	for k, v := range d.st.Done {
		c.Done[k] = v
	}
	return &c
}

// fetch GETs range i and writes it at its offset.
func (d *download) fetch(ctx context.Context, i int) error {
	off := int64(i) * d.st.PartSize
	op := fmt.Sprintf("GET range %d", i)
	req, err := http.NewRequestWithContext(ctx, d.s.Method, d.s.URL, nil)
	if err != nil {
		return err
	}
	for k, v := range d.s.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+d.st.PartSize-1))
	resp, err := d.c.storage.Do(req)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	defer resp.Body.Close()
	var size int64
	switch resp.StatusCode {
	case http.StatusPartialContent:
		_, total, _ := strings.Cut(resp.Header.Get("Content-Range"), "/")
		if size, err = strconv.ParseInt(total, 10, 64); err != nil {
			return &StorageError{Op: op, Status: resp.StatusCode, Message: "no size in Content-Range", DecisionID: d.s.DecisionID}
		}
	case http.StatusOK: // the whole object: a server without ranges, or a small object
		size = resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		size = 0 // an empty object
	default:
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := xmlError(raw)
		if e == nil {
			e = &StorageError{Message: strings.TrimSpace(string(truncate(raw, 200)))}
		}
		e.Op, e.Status, e.DecisionID = op, resp.StatusCode, d.s.DecisionID
		return e
	}
	etag := resp.Header.Get("ETag")
	d.mu.Lock()
	if d.st.Size < 0 {
		d.st.Size, d.st.ETag = size, etag
	}
	same := d.st.Size == size && (d.st.ETag == "" || etag == "" || d.st.ETag == etag)
	d.mu.Unlock()
	if !same {
		return &StorageError{Op: op, Status: resp.StatusCode, Code: "ObjectChanged", Message: "the object changed during the download", DecisionID: d.s.DecisionID}
	}
	want := min(d.st.PartSize, size-off)
	if resp.StatusCode == http.StatusOK {
		want = size - off
	}
	n, err := io.Copy(&offsetWriter{w: d.w, off: off}, io.LimitReader(resp.Body, max(want, 0)))
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	if n != max(want, 0) {
		return fmt.Errorf("storage: %s: %d bytes, want %d", op, n, want)
	}
	d.mu.Lock()
	d.st.Done[i] = true
	if resp.StatusCode == http.StatusOK {
		d.st.PartSize = max(size, 1) // one range holds it all
	}
	d.mu.Unlock()
	done := d.done.Add(n)
	if d.opts.Progress != nil {
		d.opts.Progress(done, size)
	}
	if d.opts.OnState != nil {
		d.opts.OnState(d.state())
	}
	return nil
}

type offsetWriter struct {
	w   io.WriterAt
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.w.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}
