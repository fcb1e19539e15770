package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
)

const policyReplayUsage = `usage: signgate policy replay --candidate DIR|bundle.tar.gz [--audit-file PATH] [--examples N] [--format text|json|junit] [-o FILE] [--allow-widening] [RECORDS...]

Re-evaluates the input of every decision record (docs/audit.md) with the
candidate policy, exactly as the policy saw it, and reports each decision
that would change: allow→deny, deny→allow, a longer or shorter TTL, another
connector or key, other reasons for a deny. Records are read from
--audit-file and its rotated files, the RECORDS files, or stdin.

Exit status 1 when a decision widens (deny→allow, a longer TTL), unless
--allow-widening; 2 on a wrong command line.
`

// policyCmd is `signgate policy replay`.
func policyCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("policy", "policy: missing subcommand replay")
	}
	switch {
	case args[0] == "replay":
		return policyReplay(ctx, args[1:], stdin, stdout)
	case isHelp(args[0]):
		fmt.Fprint(stdout, policyReplayUsage)
		return errHelpShown
	}
	return usagef("policy", "policy: unknown subcommand %q", args[0])
}

// Kinds of change, and whether each widens what callers get.
const (
	changeAllowToDeny    = "allow→deny"
	changeDenyToAllow    = "deny→allow"
	changeTTLLonger      = "ttl_longer"
	changeTTLShorter     = "ttl_shorter"
	changeConnector      = "connector_changed"
	changeKey            = "key_changed"
	changeReasons        = "reasons_changed"
	changeCandidateError = "candidate_error"
)

var widening = map[string]bool{changeDenyToAllow: true, changeTTLLonger: true}

// replayChange is one decision that the candidate decides otherwise.
type replayChange struct {
	Change     string      `json:"change"`
	DecisionID string      `json:"decision_id"`
	Timestamp  string      `json:"timestamp"`
	Subject    string      `json:"subject"`
	Team       string      `json:"team"`
	Operation  string      `json:"operation"`
	Object     string      `json:"object"`
	Before     replayState `json:"before"`
	After      replayState `json:"after"`
}

type replayState struct {
	Allow      bool     `json:"allow"`
	Reasons    []string `json:"reasons,omitempty"`
	Connector  string   `json:"connector,omitempty"`
	Key        string   `json:"key,omitempty"`
	TTLSeconds int64    `json:"ttl_seconds,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// replayGroup counts the changes of one kind with the same reasons.
type replayGroup struct {
	Change   string         `json:"change"`
	Reasons  string         `json:"reasons,omitempty"` // the reasons after the change, for a deny
	Widening bool           `json:"widening"`
	Count    int            `json:"count"`
	Examples []replayChange `json:"examples"`
}

// ReplayReport is what policy replay prints with --format json.
type ReplayReport struct {
	Candidate string         `json:"candidate"`
	Revision  string         `json:"revision"`
	Records   int            `json:"records"`   // read
	Replayed  int            `json:"replayed"`  // with a recorded decision and input
	Skipped   int            `json:"skipped"`   // no decision recorded, or a compensating record
	Unchanged int            `json:"unchanged"` // decided the same
	Changed   int            `json:"changed"`
	Widening  int            `json:"widening"`
	Narrowing int            `json:"narrowing"`
	Groups    []*replayGroup `json:"groups"`
}

func policyReplay(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy replay", flag.ContinueOnError)
	candidate := fs.String("candidate", "", "the candidate policy: a directory or a bundle (.tar.gz)")
	auditFile := fs.String("audit-file", "", "the file sink's audit.path; its rotated files are read too, oldest first")
	examples := fs.Int("examples", 5, "examples to show of each kind of change")
	format := fs.String("format", "text", "text, json or junit")
	out := fs.String("o", "", "write the report to this file instead of stdout")
	allowWidening := fs.Bool("allow-widening", false, "exit 0 even when a decision widens")
	files, err := parseArgs(fs, args, stdout, policyReplayUsage, -1)
	if err != nil {
		return err
	}
	if *candidate == "" {
		return usagef(fs.Name(), "policy replay: --candidate is required")
	}
	if !slices.Contains([]string{"text", "json", "junit"}, *format) || *examples < 0 {
		return usagef(fs.Name(), "policy replay: --format must be text, json or junit, and --examples not negative")
	}
	b, err := loadCandidate(*candidate)
	if err != nil {
		return fmt.Errorf("policy replay: candidate %s: %w", *candidate, err)
	}
	engine := authz.New()
	if err := engine.Activate(ctx, b, "candidate:"+*candidate); err != nil {
		return fmt.Errorf("policy replay: signgate would refuse the candidate: %w", err)
	}
	srcs, err := auditSources(*auditFile, files)
	if err != nil {
		return err
	}
	rep := &ReplayReport{Candidate: *candidate, Revision: authz.Revision(b)}
	groups := map[string]*replayGroup{}
	err = readRecords(srcs, stdin, nil, func(r *auditRecord) error {
		rep.Records++
		if r.Result == nil || len(r.Input) == 0 || r.compensates() {
			rep.Skipped++
			return nil
		}
		var in authz.Input
		if err := json.Unmarshal(r.Input, &in); err != nil {
			rep.Skipped++
			return nil
		}
		rep.Replayed++
		d, err := engine.Decide(ctx, &in)
		c, changed := compare(r, d, err)
		if !changed {
			rep.Unchanged++
			return nil
		}
		rep.Changed++
		if widening[c.Change] {
			rep.Widening++
		} else if c.Change != changeReasons {
			rep.Narrowing++
		}
		k := c.Change + "\x00" + strings.Join(c.After.Reasons, ",")
		g := groups[k]
		if g == nil {
			g = &replayGroup{Change: c.Change, Reasons: strings.Join(c.After.Reasons, ","), Widening: widening[c.Change], Examples: []replayChange{}}
			groups[k] = g
			rep.Groups = append(rep.Groups, g)
		}
		g.Count++
		if len(g.Examples) < *examples {
			g.Examples = append(g.Examples, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(rep.Groups, func(a, b *replayGroup) int {
		if a.Widening != b.Widening {
			if a.Widening {
				return -1
			}
			return 1
		}
		return b.Count - a.Count
	})
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := writeReplay(w, *format, rep, *allowWidening); err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(stdout, "replayed %d decisions: %d changed, %d widening, %d narrowing; report in %s\n", rep.Replayed, rep.Changed, rep.Widening, rep.Narrowing, *out)
	}
	if rep.Widening > 0 && !*allowWidening {
		return fmt.Errorf("policy replay: the candidate widens %d decisions (deny→allow or a longer TTL); pass --allow-widening if that is intended", rep.Widening)
	}
	return nil
}

// compare is the change from the recorded decision of r to the candidate's
// d, if any.
func compare(r *auditRecord, d authz.Decision, err error) (replayChange, bool) {
	before := replayState{Allow: r.Result.Allow, Reasons: r.Result.Reasons, Connector: r.Result.Connector, Key: r.Result.Key, TTLSeconds: r.Result.TTLSeconds}
	after := replayState{Allow: d.Allow, Reasons: d.Reasons, Connector: d.Connector, Key: d.Key, TTLSeconds: d.TTLSeconds()}
	if !before.Allow {
		before.Connector, before.Key, before.TTLSeconds = "", "", 0
	}
	if !after.Allow {
		after.Connector, after.Key, after.TTLSeconds = "", "", 0
	}
	c := replayChange{
		DecisionID: r.DecisionID, Timestamp: r.Timestamp.UTC().Format("2006-01-02T15:04:05Z"), Subject: r.in.Subject.ID,
		Team: r.in.Action.Team, Operation: r.in.Action.Operation, Object: r.in.Action.Object, Before: before, After: after,
	}
	switch {
	case err != nil:
		// The candidate fails closed on this input: a deny.
		c.After = replayState{Error: err.Error()}
		c.Change = changeCandidateError
		return c, true
	case before.Allow && !after.Allow:
		c.Change = changeAllowToDeny
	case !before.Allow && after.Allow:
		c.Change = changeDenyToAllow
	case !before.Allow:
		if slices.Equal(sorted(before.Reasons), sorted(after.Reasons)) {
			return c, false
		}
		c.Change = changeReasons
	case after.TTLSeconds > before.TTLSeconds:
		c.Change = changeTTLLonger
	case after.Connector != before.Connector:
		c.Change = changeConnector
	case after.Key != before.Key:
		c.Change = changeKey
	case after.TTLSeconds < before.TTLSeconds:
		c.Change = changeTTLShorter
	default:
		return c, false
	}
	return c, true
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

// loadCandidate reads a policy directory, or a bundle file as OPA reads
// one. A bundle's signature is not checked here: bundle verify does that.
func loadCandidate(path string) (*bundle.Bundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return bundles.LoadDir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := bundle.NewReader(f).WithSkipBundleVerification(true).Read()
	return &b, err
}

func writeReplay(w io.Writer, format string, rep *ReplayReport, allowWidening bool) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "junit":
		return writeReplayJUnit(w, rep, allowWidening)
	}
	fmt.Fprintf(w, "candidate %s (revision %s): %d records, %d replayed, %d skipped\n", rep.Candidate, rep.Revision, rep.Records, rep.Replayed, rep.Skipped)
	fmt.Fprintf(w, "%d unchanged, %d changed: %d widening, %d narrowing\n", rep.Unchanged, rep.Changed, rep.Widening, rep.Narrowing)
	for _, g := range rep.Groups {
		mark := ""
		if g.Widening {
			mark = "  WIDENS"
		}
		reasons := ""
		if g.Reasons != "" {
			reasons = " [" + g.Reasons + "]"
		}
		fmt.Fprintf(w, "\n%7d  %s%s%s\n", g.Count, g.Change, reasons, mark)
		for _, c := range g.Examples {
			fmt.Fprintf(w, "         %s %s %s %s %s/%s: %s → %s\n", c.Timestamp, c.DecisionID, c.Subject, c.Operation, c.Team, c.Object, c.Before.short(), c.After.short())
		}
	}
	return nil
}

func (s replayState) short() string {
	switch {
	case s.Error != "":
		return "error"
	case s.Allow:
		return fmt.Sprintf("allow %s %s %ds", s.Connector, s.Key, s.TTLSeconds)
	}
	return "deny " + strings.Join(s.Reasons, ",")
}

// JUnit: one test case per kind of change, failing when it widens (and
// widening is not allowed), and one for the unchanged decisions.
type junitSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []junitSue `xml:"testsuite"`
}

type junitSue struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeReplayJUnit(w io.Writer, rep *ReplayReport, allowWidening bool) error {
	s := junitSue{Name: "policy replay " + rep.Revision}
	s.Cases = append(s.Cases, junitCase{Name: fmt.Sprintf("%d decisions unchanged", rep.Unchanged), Classname: "replay"})
	for _, g := range rep.Groups {
		var ex strings.Builder
		for _, c := range g.Examples {
			fmt.Fprintf(&ex, "%s %s %s/%s: %s → %s\n", c.DecisionID, c.Subject, c.Team, c.Object, c.Before.short(), c.After.short())
		}
		name := fmt.Sprintf("%s [%s]: %d decisions", g.Change, g.Reasons, g.Count)
		jc := junitCase{Name: name, Classname: "replay", SystemOut: ex.String()}
		if g.Widening && !allowWidening {
			jc.Failure = &junitFailure{Message: "the candidate widens these decisions", Text: ex.String()}
			s.Failures++
		}
		s.Cases = append(s.Cases, jc)
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSue{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
