package client

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// answer is a storage server's answer, its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes one signed request to a storage server; an answer other than
// 2xx (and 308, GCS's "resume incomplete") is a *StorageError.
func (c *Client) send(ctx context.Context, op, method, rawURL string, headers map[string]string, body io.Reader, length int64, decisionID string) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") && !strings.EqualFold(k, "Host") {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.storage.Do(req)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("storage: %s: read answer: %w", op, err)
	}
	a := &answer{status: resp.StatusCode, header: resp.Header, body: raw}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusPermanentRedirect {
		e := xmlError(raw)
		if e == nil {
			e = &StorageError{Message: strings.TrimSpace(string(truncate(raw, 200)))}
		}
		e.Op, e.Status, e.DecisionID = op, resp.StatusCode, decisionID
		return a, e
	}
	return a, nil
}

// xmlError is the <Error> document of S3, GCS and Azure, or nil.
func xmlError(body []byte) *StorageError {
	var doc struct {
		XMLName xml.Name
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) != nil || doc.XMLName.Local != "Error" {
		return nil
	}
	return &StorageError{Code: doc.Code, Message: doc.Message}
}

// verifyPart compares the checksum the storage server computed for a part
// with the part's bytes: S3's ETag (the MD5, unless the bucket encrypts
// with KMS) and Azure's Content-MD5.
func verifyPart(a *answer, r io.ReaderAt, p Part) error {
	var want string
	got := strings.Trim(a.header.Get("ETag"), `"`)
	md := a.header.Get("Content-MD5")
	switch {
	case md != "":
		got = md
	case len(got) == 32 && isHex(got):
	default:
		return nil // nothing to compare with
	}
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, p.Offset, p.Length)); err != nil {
		return err
	}
	if md != "" {
		want = base64.StdEncoding.EncodeToString(h.Sum(nil))
	} else {
		want = hex.EncodeToString(h.Sum(nil))
	}
	if got != want {
		return &checksumError{op: fmt.Sprintf("part %d", p.PartNumber), got: got, want: want}
	}
	return nil
}

// partMD5 is the base64 MD5 of part p, as Content-MD5 carries it.
func partMD5(r io.ReaderAt, p Part) (string, error) {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, p.Offset, p.Length)); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// fillTemplate puts each part's ETag into CompleteMultipartUpload's body.
func fillTemplate(tmpl string, etags map[int]string) string {
	var pairs []string
	for n, etag := range etags {
		pairs = append(pairs, "{etag:"+strconv.Itoa(n)+"}", etag)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}
