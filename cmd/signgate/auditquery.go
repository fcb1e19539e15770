package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const auditUsage = `usage: signgate audit query [--audit-file PATH] [filters] [--format table|json|csv] [FILE...]
       signgate audit outstanding [--audit-file PATH] [--bucket B] [--subject S] [--team T] [FILE...]

Reads decision records (docs/audit.md): the file sink at --audit-file and its
rotated files, the FILEs given, or stdin ("-", or nothing at all).

query prints the decisions that match every filter given. A later strict-mode
record of the same decision (503 audit_unavailable) replaces the earlier one:
the caller got no URL. /v1/decide records are left out unless --endpoint
/v1/decide asks for them.

outstanding prints the issued URLs that have not yet expired, soonest first.
`

// auditCmd is `signgate audit query|outstanding`.
func auditCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	return auditCmdAt(args, stdin, stdout, time.Now)
}

// auditCmdAt is auditCmd with its clock.
func auditCmdAt(args []string, stdin io.Reader, stdout io.Writer, now func() time.Time) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			return usagef("audit", "audit: missing subcommand (query or outstanding)")
		}
		fmt.Fprint(stdout, auditUsage)
		return errHelpShown
	}
	switch args[0] {
	case "query":
		return auditQueryCmd(args[1:], stdin, stdout, now)
	case "outstanding":
		return auditOutstandingCmd(args[1:], stdin, stdout, now)
	}
	return usagef("audit", "audit: unknown subcommand %q", args[0])
}

// recordFilter holds the filters of audit query; zero values match all.
type recordFilter struct {
	subject, team, bucket, keyPrefix, decisionID, endpoint string
	since, until                                           time.Time
	allowed, denied                                        bool
	unexpiredAt                                            time.Time // outstanding only
}

func (f *recordFilter) match(r *auditRecord) bool {
	switch {
	case f.endpoint != "" && r.Custom.Endpoint != f.endpoint,
		f.endpoint == "" && r.Custom.Endpoint == "/v1/decide",
		f.subject != "" && r.in.Subject.ID != f.subject,
		f.team != "" && r.in.Action.Team != f.team,
		f.bucket != "" && r.Custom.Bucket != f.bucket,
		f.decisionID != "" && r.DecisionID != f.decisionID,
		!f.since.IsZero() && r.Timestamp.Before(f.since),
		!f.until.IsZero() && !r.Timestamp.Before(f.until),
		f.allowed && !r.allowed(),
		f.denied && r.allowed():
		return false
	case f.keyPrefix != "":
		if r.Result == nil || !strings.HasPrefix(r.Result.Key, f.keyPrefix) {
			return false
		}
	}
	if !f.unexpiredAt.IsZero() {
		exp, err := time.Parse(time.RFC3339, r.Custom.ExpiresAt)
		if err != nil || !exp.After(f.unexpiredAt) || !r.allowed() {
			return false
		}
	}
	return true
}

// prefilter is a cheap test on the raw line: a record that lacks the
// exact text of a filtered value cannot match it, so it is not decoded.
// Only values that JSON writes as they are take part.
func (f *recordFilter) prefilter() func([]byte) bool {
	var needles [][]byte
	for _, v := range []string{f.subject, f.team, f.bucket, f.decisionID, f.keyPrefix} {
		if v != "" && plainJSON(v) {
			needles = append(needles, []byte(v))
		}
	}
	return func(line []byte) bool {
		// A compensating record must always be read: it cancels another.
		if bytes.Contains(line, []byte("audit_unavailable")) {
			return true
		}
		for _, n := range needles {
			if !bytes.Contains(line, n) {
				return false
			}
		}
		return true
	}
}

func plainJSON(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' {
			return false
		}
	}
	return true
}

// collect reads the records of files that match f, with compensating
// records applied: a decision whose record was followed by a 503
// audit_unavailable record appears once, as that 503.
func collect(files []string, stdin io.Reader, f *recordFilter) ([]*auditRecord, error) {
	var out []*auditRecord
	cancelled := map[string]bool{}
	err := readRecords(files, stdin, f.prefilter(), func(r *auditRecord) error {
		if r.compensates() {
			cancelled[r.DecisionID] = true
		}
		if f.match(r) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil || len(cancelled) == 0 {
		return out, err
	}
	kept := out[:0]
	for _, r := range out {
		if !cancelled[r.DecisionID] || r.compensates() {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// timeFlag is a point in time: RFC 3339, a date (UTC midnight), or a
// duration back from now ("24h").
type timeFlag struct {
	t   *time.Time
	now func() time.Time
}

func (v timeFlag) String() string {
	if v.t == nil || v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339)
}

func (v timeFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		*v.t = t
		return nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		*v.t = t
		return nil
	}
	if d, err := parseDays(s); err == nil && d > 0 {
		*v.t = v.now().Add(-d)
		return nil
	}
	return errors.New("want RFC 3339 (2026-11-27T10:00:00Z), a date (2026-11-27) or a duration back from now (24h, 7d)")
}

// parseDays is time.ParseDuration with a "d" suffix for days.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		return time.Duration(days) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func auditQueryCmd(args []string, stdin io.Reader, stdout io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("audit query", flag.ContinueOnError)
	var f recordFilter
	auditFile := fs.String("audit-file", "", "the file sink's audit.path; its rotated files are read too, oldest first")
	fs.StringVar(&f.subject, "subject", "", "only this subject id (input.subject.id)")
	fs.StringVar(&f.team, "team", "", "only requests for this team (input.action.team)")
	fs.StringVar(&f.bucket, "bucket", "", "only URLs issued for this bucket (custom.bucket)")
	fs.StringVar(&f.keyPrefix, "key-prefix", "", "only granted keys that start with this (result.key)")
	fs.StringVar(&f.decisionID, "decision-id", "", "only this decision")
	fs.StringVar(&f.endpoint, "endpoint", "", "only this route (/v1/sign, /v1/sign/batch, /v1/uploads, /v1/decide); default all but /v1/decide")
	fs.Var(timeFlag{&f.since, now}, "since", "only records at or after this time (RFC 3339, a date, or 24h / 7d back from now)")
	fs.Var(timeFlag{&f.until, now}, "until", "only records before this time (as --since)")
	fs.BoolVar(&f.allowed, "allowed", false, "only decisions that allowed, and whose caller got the answer")
	fs.BoolVar(&f.denied, "denied", false, "only decisions that denied or failed")
	format := fs.String("format", "table", "table, json (JSON lines) or csv")
	files, err := parseArgs(fs, args, stdout, auditUsage, -1)
	if err != nil {
		return err
	}
	if f.allowed && f.denied {
		return usagef("audit query", "audit query: --allowed and --denied exclude each other")
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		return usagef("audit query", "audit query: --format must be table, json or csv")
	}
	srcs, err := auditSources(*auditFile, files)
	if err != nil {
		return err
	}
	recs, err := collect(srcs, stdin, &f)
	if err != nil {
		return err
	}
	return writeRows(stdout, *format, recs)
}

func auditOutstandingCmd(args []string, stdin io.Reader, stdout io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("audit outstanding", flag.ContinueOnError)
	var f recordFilter
	auditFile := fs.String("audit-file", "", "the file sink's audit.path; its rotated files are read too, oldest first")
	fs.StringVar(&f.bucket, "bucket", "", "only URLs for this bucket")
	fs.StringVar(&f.subject, "subject", "", "only URLs issued to this subject id")
	fs.StringVar(&f.team, "team", "", "only URLs of this team")
	fs.StringVar(&f.keyPrefix, "key-prefix", "", "only URLs for keys that start with this")
	at := now()
	fs.Var(timeFlag{&at, now}, "at", "list what is still valid at this time (default now)")
	format := fs.String("format", "table", "table, json (JSON lines) or csv")
	files, err := parseArgs(fs, args, stdout, auditUsage, -1)
	if err != nil {
		return err
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		return usagef("audit outstanding", "audit outstanding: --format must be table, json or csv")
	}
	f.unexpiredAt = at
	srcs, err := auditSources(*auditFile, files)
	if err != nil {
		return err
	}
	recs, err := collect(srcs, stdin, &f)
	if err != nil {
		return err
	}
	slices.SortStableFunc(recs, func(a, b *auditRecord) int { return strings.Compare(a.Custom.ExpiresAt, b.Custom.ExpiresAt) })
	return writeRows(stdout, *format, recs)
}

// auditRow is one output line of audit query and audit outstanding.
type auditRow struct {
	Time       string   `json:"time"`
	DecisionID string   `json:"decision_id"`
	Endpoint   string   `json:"endpoint"`
	Status     int      `json:"status"`
	Subject    string   `json:"subject"`
	Team       string   `json:"team"`
	Operation  string   `json:"operation"`
	Allow      bool     `json:"allow"`
	Reasons    []string `json:"reasons"`
	Bucket     string   `json:"bucket,omitempty"`
	Key        string   `json:"key,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
	SourceIP   string   `json:"source_ip"`
}

var rowHeader = []string{"time", "decision_id", "endpoint", "status", "subject", "team", "operation", "allow", "reasons", "bucket", "key", "expires_at", "source_ip"}

func rowOf(r *auditRecord) auditRow {
	row := auditRow{
		Time: r.Timestamp.UTC().Format(time.RFC3339), DecisionID: r.DecisionID, Endpoint: r.Custom.Endpoint,
		Status: r.Custom.Status, Subject: r.in.Subject.ID, Team: r.in.Action.Team, Operation: r.in.Action.Operation,
		Allow: r.allowed(), Reasons: []string{}, Bucket: r.Custom.Bucket, ExpiresAt: r.Custom.ExpiresAt, SourceIP: r.in.Source.IP,
	}
	if r.Result != nil {
		row.Key = r.Result.Key
		if len(r.Result.Reasons) > 0 {
			row.Reasons = r.Result.Reasons
		}
	}
	if r.Custom.Error != "" && len(row.Reasons) == 0 {
		row.Reasons = []string{r.Custom.Error}
	}
	return row
}

func (w auditRow) fields() []string {
	return []string{w.Time, w.DecisionID, w.Endpoint, strconv.Itoa(w.Status), w.Subject, w.Team, w.Operation,
		strconv.FormatBool(w.Allow), strings.Join(w.Reasons, ","), w.Bucket, w.Key, w.ExpiresAt, w.SourceIP}
}

func writeRows(stdout io.Writer, format string, recs []*auditRecord) error {
	switch format {
	case "json":
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(rowOf(r)); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		w := csv.NewWriter(stdout)
		_ = w.Write(rowHeader)
		for _, r := range recs {
			_ = w.Write(rowOf(r).fields())
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(rowHeader, "\t")))
	for _, r := range recs {
		f := rowOf(r).fields()
		for i, v := range f {
			if v == "" {
				f[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(f, "\t"))
	}
	return tw.Flush()
}
