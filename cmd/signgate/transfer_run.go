package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	apiclient "github.com/signgate/signgate/client"
)

// transfer is one signgate cp.
type transfer struct {
	c           *apiclient.Client
	parallel    int
	partSize    int64
	resume      bool
	contentType string
	bar         bool
	stdout      io.Writer
	stderr      io.Writer
}

func progressTo(bar *progressbar.ProgressBar) func(done, total int64) {
	if bar == nil {
		return nil
	}
	return func(done, _ int64) { _ = bar.Set64(done) }
}

func (t *transfer) upload(ctx context.Context, path, team, object string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	opts := &apiclient.UploadOptions{PartSize: t.partSize, Parallel: t.parallel, ContentType: t.contentType}
	sf := stateFile(path)
	if t.resume {
		var st apiclient.UploadState
		found, err := loadState(sf, &st)
		if err != nil {
			return err
		}
		if found && st.Plan.Key != "" {
			opts.Resume = &st
		}
		opts.KeepOnFailure = true
		opts.OnState = func(s *apiclient.UploadState) { _ = saveState(sf, s) }
	}
	bar := newBar(t.bar, t.stderr, fi.Size(), "upload")
	opts.Progress = progressTo(bar)
	start := time.Now()
	res, err := t.c.Upload(ctx, team, object, f, fi.Size(), opts)
	if err != nil {
		var ue *apiclient.UploadError
		if t.resume && errors.As(err, &ue) {
			_ = saveState(sf, ue.State)
			return fmt.Errorf("%w\nrun the same command again to resume", err)
		}
		return err
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if t.resume {
		_ = os.Remove(sf)
	}
	fmt.Fprintf(t.stdout, "uploaded %s to %s %s/%s: %d bytes in %d parts (%d resumed), %s, decision %s\n",
		path, res.Provider, res.Bucket, res.Key, res.Size, res.Parts, res.Resumed, rate(res.Size, time.Since(start)), res.DecisionID)
	return nil
}

func (t *transfer) download(ctx context.Context, team, object, path string) error {
	opts := &apiclient.DownloadOptions{PartSize: t.partSize, Parallel: t.parallel}
	sf := stateFile(path)
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if t.resume {
		var st apiclient.DownloadState
		found, err := loadState(sf, &st)
		if err != nil {
			return err
		}
		if found {
			opts.Resume = &st
			flags = os.O_CREATE | os.O_WRONLY // keep the ranges written
		}
		opts.OnState = func(s *apiclient.DownloadState) { _ = saveState(sf, s) }
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	var bar *progressbar.ProgressBar
	opts.Progress = func(done, total int64) {
		if bar == nil && t.bar {
			bar = newBar(true, t.stderr, total, "download")
		}
		if bar != nil {
			_ = bar.Set64(done)
		}
	}
	start := time.Now()
	n, err := t.c.Download(ctx, team, object, f, opts)
	if err != nil {
		var de *apiclient.DownloadError
		if t.resume && errors.As(err, &de) {
			_ = saveState(sf, de.State)
			return fmt.Errorf("%w\nrun the same command again to resume", err)
		}
		return err
	}
	if err := f.Truncate(n); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if t.resume {
		_ = os.Remove(sf)
	}
	fmt.Fprintf(t.stdout, "downloaded %s:%s to %s: %d bytes, %s\n", team, object, path, n, rate(n, time.Since(start)))
	return nil
}

// planUpload is --dry-run of an upload: the policy's decision and the
// parts the upload would have, without starting it (an S3 multipart
// upload starts when its plan is signed).
func (t *transfer) planUpload(ctx context.Context, path, team, object string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	d, err := t.c.Decide(ctx, apiclient.SignRequest{Team: team, Operation: "write", Object: object, ContentType: t.contentType})
	if err != nil {
		return err
	}
	if !d.Allow {
		return &apiclient.Error{Status: 403, Code: apiclient.CodeDenied, Detail: "the policy would deny this upload", Reasons: d.Reasons, DecisionID: d.DecisionID}
	}
	ps := partSizeFor(fi.Size(), t.partSize)
	parts := (fi.Size() + ps - 1) / ps
	flow := map[string]string{"s3": apiclient.FlowS3Multipart, "azure": apiclient.FlowAzureBlocks, "gcs": apiclient.FlowGCSResumable}[d.Provider]
	fmt.Fprintf(t.stdout, "would upload %s (%d bytes) to %s %s/%s\n", path, fi.Size(), d.Provider, d.Bucket, d.Key)
	fmt.Fprintf(t.stdout, "flow %s: %d parts of %d bytes, %d at a time; URLs valid %ds; decision %s (revision %s)\n",
		flow, parts, ps, min(int64(t.parallel), parts), d.TTLSeconds, d.DecisionID, d.Revision)
	return nil
}

func (t *transfer) planDownload(ctx context.Context, team, object, path string) error {
	d, err := t.c.Decide(ctx, apiclient.SignRequest{Team: team, Operation: "read", Object: object})
	if err != nil {
		return err
	}
	if !d.Allow {
		return &apiclient.Error{Status: 403, Code: apiclient.CodeDenied, Detail: "the policy would deny this download", Reasons: d.Reasons, DecisionID: d.DecisionID}
	}
	ps := t.partSize
	if ps == 0 {
		ps = 8 << 20
	}
	fmt.Fprintf(t.stdout, "would download %s %s/%s to %s in ranges of %d bytes, %d at a time; URL valid %ds; decision %s (revision %s)\n",
		d.Provider, d.Bucket, d.Key, path, ps, t.parallel, d.TTLSeconds, d.DecisionID, d.Revision)
	return nil
}

// partSizeFor is the server's rule (docs/uploads.md): the part size asked
// for, or 8 MiB grown to whole MiB when the object would need more than
// 10,000 parts.
func partSizeFor(size, asked int64) int64 {
	if asked > 0 {
		return asked
	}
	ps := int64(8 << 20)
	if size > ps*10000 {
		ps = (size/10000 + 1<<20 - 1) / (1 << 20) * (1 << 20)
		if ps*10000 < size {
			ps += 1 << 20
		}
	}
	return ps
}
