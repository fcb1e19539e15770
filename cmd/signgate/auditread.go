package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Reading decision records back: the file sink's JSON lines, its rotated
// files, or stdin. Shared by `audit query`, `audit outstanding` and
// `policy replay`.

// auditRecord is the part of a decision record (docs/audit.md) that the
// commands read. Input is kept raw, exactly as the policy saw it.
type auditRecord struct {
	DecisionID string          `json:"decision_id"`
	Timestamp  time.Time       `json:"timestamp"`
	Input      json.RawMessage `json:"input"`
	Result     *struct {
		Allow      bool     `json:"allow"`
		Reasons    []string `json:"reasons"`
		Connector  string   `json:"connector"`
		Key        string   `json:"key"`
		Operation  string   `json:"operation"`
		TTLSeconds int64    `json:"ttl_seconds"`
	} `json:"result"`
	Bundles map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
	Custom struct {
		Endpoint  string `json:"endpoint"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Provider  string `json:"provider"`
		Bucket    string `json:"bucket"`
		ExpiresAt string `json:"expires_at"`
		RequestID string `json:"request_id"`
	} `json:"custom"`
	in recordInput // decoded from Input
}

// recordInput is the part of the input the filters look at.
type recordInput struct {
	Subject struct {
		ID    string   `json:"id"`
		Teams []string `json:"teams"`
	} `json:"subject"`
	Action struct {
		Team      string `json:"team"`
		Operation string `json:"operation"`
		Object    string `json:"object"`
	} `json:"action"`
	Source struct {
		IP string `json:"ip"`
	} `json:"source"`
}

// compensates reports whether r is the strict mode's second record of a
// decision whose record could not be committed: the caller got a 503 and
// no URL, whatever an earlier record with the same id says.
func (r *auditRecord) compensates() bool {
	return r.Custom.Status == 503 && r.Custom.Error == "audit_unavailable"
}

// allowed reports whether the policy allowed the decision and the caller
// got its answer.
func (r *auditRecord) allowed() bool {
	return r.Result != nil && r.Result.Allow && r.Custom.Status >= 200 && r.Custom.Status < 300
}

// auditSources expands --audit-file PATH into PATH's rotated files, oldest
// first, then PATH itself; other arguments are taken as they are, and "-"
// or nothing at all is stdin.
func auditSources(auditFile string, args []string) ([]string, error) {
	var files []string
	if auditFile != "" {
		matches, err := filepath.Glob(globQuote(auditFile) + ".*")
		if err != nil {
			return nil, err
		}
		var rotated []string
		for _, m := range matches {
			if _, err := time.Parse("20060102T150405.000000000Z", strings.TrimPrefix(m, auditFile+".")); err == nil {
				rotated = append(rotated, m)
			}
		}
		slices.Sort(rotated) // the suffix sorts in time order
		files = append(files, rotated...)
		if _, err := os.Stat(auditFile); err == nil || len(rotated) == 0 {
			files = append(files, auditFile)
		}
	}
	files = append(files, args...)
	if len(files) == 0 {
		files = []string{"-"}
	}
	return files, nil
}

func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readRecords calls fn for each record of files in order. keep, when not
// nil, sees each raw line first and may skip it before it is decoded; a
// line that is not a record is an error naming file and line.
func readRecords(files []string, stdin io.Reader, keep func(line []byte) bool, fn func(*auditRecord) error) error {
	for _, name := range files {
		var r io.Reader
		if name == "-" {
			r = stdin
		} else {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 256<<10), 16<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			if len(bytes.TrimSpace(line)) == 0 || (keep != nil && !keep(line)) {
				continue
			}
			var rec auditRecord
			if err := json.Unmarshal(line, &rec); err != nil || rec.DecisionID == "" {
				return fmt.Errorf("%s:%d: not a decision record: %v", name, n, err)
			}
			if len(rec.Input) > 0 {
				_ = json.Unmarshal(rec.Input, &rec.in)
			}
			if err := fn(&rec); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
