package client

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// gcs runs a resumable session: open it with the signed start, then PUT
// the chunks in order. GCS answers 308 to every chunk but the last, with
// the bytes it has in Range; after a failure the session is asked how far
// it got ("bytes */size") and the upload goes on from there.
func (u *upload) gcs(ctx context.Context) error {
	st := u.state()
	dec := st.Plan.DecisionID
	fresh := st.Session == ""
	if fresh {
		start := st.Plan.Start
		if start == nil {
			return fmt.Errorf("signgate: gcs_resumable plan without a start call")
		}
		err := u.c.retry.do(ctx, func() error {
			a, err := u.c.send(ctx, "start", start.Method, start.URL, start.Headers, nil, 0, dec)
			if err != nil {
				return err
			}
			if st.Session = a.header.Get("Location"); st.Session == "" {
				return &StorageError{Op: "start", Status: a.status, Message: "no session URI in Location", DecisionID: dec}
			}
			return nil
		})
		if err != nil {
			return err
		}
		u.mu.Lock()
		u.st.Session = st.Session
		u.mu.Unlock()
	}
	// A new session holds nothing; a resumed one is asked.
	var committed int64
	var finished bool
	if !fresh {
		var err error
		if committed, finished, err = u.gcsStatus(ctx, st.Session); err != nil {
			return err
		}
	}
	var final *answer
	for _, p := range st.Plan.Parts {
		end := p.Offset + p.Length
		if finished || end <= committed {
			if _, ok := st.Done[p.PartNumber]; !ok {
				u.stored(p, "")
			}
			continue
		}
		err := u.c.retry.do(ctx, func() error {
			from := max(p.Offset, committed)
			rng := fmt.Sprintf("bytes %d-%d/%d", from, end-1, u.total)
			a, err := u.c.send(ctx, fmt.Sprintf("part %d", p.PartNumber), http.MethodPut, st.Session,
				map[string]string{"Content-Range": rng}, io.NewSectionReader(u.r, from, end-from), end-from, dec)
			if err == nil {
				if a.status == http.StatusPermanentRedirect {
					committed = rangeEnd(a.header.Get("Range"))
					if committed < end {
						return &StorageError{Op: fmt.Sprintf("part %d", p.PartNumber), Status: 503,
							Message: fmt.Sprintf("session has %d bytes after a chunk up to %d", committed, end), DecisionID: dec}
					}
				} else {
					committed, final = end, a
				}
				return nil
			}
			// How far did the session get? The next try starts there.
			if c, fin, serr := u.gcsStatus(ctx, st.Session); serr == nil {
				committed, finished = c, fin
				if fin || c >= end {
					return nil
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		u.stored(p, "")
	}
	if final != nil {
		return u.gcsVerify(final)
	}
	return nil
}

// gcsStatus asks the session how many bytes it holds, and whether the
// object is complete.
func (u *upload) gcsStatus(ctx context.Context, session string) (int64, bool, error) {
	var committed int64
	var finished bool
	err := u.c.retry.do(ctx, func() error {
		a, err := u.c.send(ctx, "session status", http.MethodPut, session,
			map[string]string{"Content-Range": "bytes */" + strconv.FormatInt(u.total, 10)}, http.NoBody, 0, u.st.Plan.DecisionID)
		if err != nil {
			return err
		}
		finished = a.status != http.StatusPermanentRedirect
		committed = rangeEnd(a.header.Get("Range"))
		if finished {
			committed = u.total
		}
		return nil
	})
	return committed, finished, err
}

// rangeEnd is the byte count of a "bytes=0-N" Range header: N+1, or 0.
func rangeEnd(h string) int64 {
	_, last, ok := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil {
		return 0
	}
	return n + 1
}

// gcsVerify compares the object's MD5 from x-goog-hash with the bytes.
func (u *upload) gcsVerify(a *answer) error {
	var got string
	for _, v := range a.header.Values("X-Goog-Hash") {
		for part := range strings.SplitSeq(v, ",") {
			if b, ok := strings.CutPrefix(strings.TrimSpace(part), "md5="); ok {
				got = b
			}
		}
	}
	if got == "" {
		return nil
	}
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(u.r, 0, u.total)); err != nil {
		return err
	}
	if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
		return &StorageError{Op: "complete", Status: 200, Code: "BadDigest", Message: "object MD5 " + got + ", sent " + want, DecisionID: u.st.Plan.DecisionID}
	}
	return nil
}
