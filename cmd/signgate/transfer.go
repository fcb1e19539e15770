package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	apiclient "github.com/signgate/signgate/client"
	"golang.org/x/term"
)

// The commands of an app developer: signgate url and signgate cp, clients
// of a running signgate (package client), configured by SIGNGATE_URL and
// SIGNGATE_KEY.

const urlUsage = `usage: signgate url TEAM:OBJECT [--write | --delete] [--expires 15m] [--content-type T]

Print one signed URL for OBJECT of TEAM, as the policy grants it: a GET URL,
or with --write a PUT URL (its required headers are printed on stderr).
signgate is SIGNGATE_URL (or --server); the API key is SIGNGATE_KEY (or the
file --key-file).
`

const cpUsage = `usage: signgate cp FILE TEAM:OBJECT [flags]
       signgate cp TEAM:OBJECT FILE [flags]

Upload FILE to OBJECT of TEAM, or download OBJECT into FILE, straight between
this machine and the bucket, in parallel parts with retries. A progress bar
is shown when stderr is a terminal. --resume keeps the transfer's state in
FILE.signgate-state.json and continues from it. --dry-run prints the plan
and the policy's decision without moving a byte.
signgate is SIGNGATE_URL (or --server); the API key is SIGNGATE_KEY (or the
file --key-file).
`

// apiFlags are the flags that reach signgate.
type apiFlags struct{ server, keyFile *string }

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		server:  fs.String("server", os.Getenv("SIGNGATE_URL"), "signgate's base URL (default $SIGNGATE_URL)"),
		keyFile: fs.String("key-file", "", "file holding the API key (default: $SIGNGATE_KEY)"),
	}
}

func (a apiFlags) client(cmd string) (*apiclient.Client, error) {
	if *a.server == "" {
		return nil, usagef(cmd, "no signgate: set SIGNGATE_URL or --server")
	}
	key := os.Getenv("SIGNGATE_KEY")
	if *a.keyFile != "" {
		b, err := os.ReadFile(*a.keyFile)
		if err != nil {
			return nil, err
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return nil, usagef(cmd, "no API key: set SIGNGATE_KEY or --key-file")
	}
	return apiclient.New(*a.server, key), nil
}

// remote splits TEAM:OBJECT.
func remote(arg string) (team, object string, ok bool) {
	team, object, ok = strings.Cut(arg, ":")
	return team, object, ok && team != "" && object != "" && !strings.ContainsAny(team, `/\`)
}

func urlCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("url", flag.ContinueOnError)
	api := addAPIFlags(fs)
	write := fs.Bool("write", false, "a PUT URL")
	del := fs.Bool("delete", false, "a DELETE URL")
	expires := fs.Duration("expires", 0, "lifetime of the URL (default: the policy's)")
	ctype := fs.String("content-type", "", "content type to bind to a --write URL")
	pos, err := parseArgs(fs, args, stdout, urlUsage, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("url", "url needs TEAM:OBJECT")
	}
	team, object, ok := remote(pos[0])
	if !ok || (*write && *del) || *expires < 0 {
		return usagef("url", "url needs TEAM:OBJECT and at most one of --write and --delete")
	}
	c, err := api.client("url")
	if err != nil {
		return err
	}
	op := "read"
	switch {
	case *write:
		op = "write"
	case *del:
		op = "delete"
	}
	s, err := c.Sign(ctx, apiclient.SignRequest{Team: team, Operation: op, Object: object,
		ExpiresIn: int64(expires.Seconds()), ContentType: *ctype})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s.URL)
	for k, v := range s.Headers {
		fmt.Fprintf(stderr, "send with header: %s: %s\n", k, v)
	}
	if s.Method != "GET" {
		fmt.Fprintf(stderr, "method: %s; expires %s\n", s.Method, s.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

func cpCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cp", flag.ContinueOnError)
	api := addAPIFlags(fs)
	parallel := fs.Int("parallel", 4, "parts in flight at once")
	partSize := fs.String("part-size", "", "bytes per part, e.g. 16MiB (default: 8MiB, grown for huge files)")
	resume := fs.Bool("resume", false, "keep the state in FILE.signgate-state.json and continue from it")
	dryRun := fs.Bool("dry-run", false, "print the plan and the decision; move no byte")
	ctype := fs.String("content-type", "", "content type of an upload")
	quiet := fs.Bool("quiet", false, "no progress bar, even on a terminal")
	pos, err := parseArgs(fs, args, stdout, cpUsage, 2)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("cp", "cp needs a source and a destination")
	}
	ps, err := parseSize(*partSize)
	if err != nil || *parallel < 1 {
		return usagef("cp", "--part-size %q or --parallel %d: want a size such as 16MiB and at least 1", *partSize, *parallel)
	}
	c, err := api.client("cp")
	if err != nil {
		return err
	}
	t := &transfer{c: c, parallel: *parallel, partSize: ps, resume: *resume, contentType: *ctype, stdout: stdout, stderr: stderr,
		bar: !*quiet && isTerminalWriter(stderr)}
	if team, object, ok := remote(pos[1]); ok && !isRemoteOnly(pos[0]) {
		if *dryRun {
			return t.planUpload(ctx, pos[0], team, object)
		}
		return t.upload(ctx, pos[0], team, object)
	}
	if team, object, ok := remote(pos[0]); ok {
		if *dryRun {
			return t.planDownload(ctx, team, object, pos[1])
		}
		return t.download(ctx, team, object, pos[1])
	}
	return usagef("cp", "cp needs FILE TEAM:OBJECT or TEAM:OBJECT FILE")
}

// isRemoteOnly reports whether arg names no local file: a TEAM:OBJECT
// that is also a local path is taken as the local file.
func isRemoteOnly(arg string) bool {
	_, err := os.Stat(arg)
	return err != nil
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseSize reads "16MiB", "16M", "5242880"; "" is 0.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// stateFile is where --resume keeps a transfer's state.
func stateFile(local string) string { return local + ".signgate-state.json" }

// saveState writes v to path atomically, so a kill leaves the old state
// or the new one.
func saveState(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadState(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w (delete it to start over)", path, err)
	}
	return true, nil
}

// newBar is a byte progress bar on stderr, or nil when stderr is not a
// terminal.
func newBar(enabled bool, stderr io.Writer, total int64, what string) *progressbar.ProgressBar {
	if !enabled {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
	)
}

func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.1f MiB/s", float64(n)/(1<<20)/max(d.Seconds(), 1e-3))
}
