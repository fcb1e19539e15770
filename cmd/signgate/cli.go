package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Exit statuses, as operators know them from other tools: 0 done (or help
// asked for), 1 the command ran and failed (a bundle that does not
// verify, a server that cannot start), 2 the command line is wrong.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// errHelpShown says that help was asked for and printed on stdout.
var errHelpShown = errors.New("help shown")

// usageError is a mistake in the command line of cmd.
type usageError struct {
	cmd string // "serve", "bundle build"; empty for signgate itself
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// reportedError has already been written to the log, in the log's format;
// main only sets the exit status.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// report prints err once on stderr, unless it was already logged, and
// returns the exit status for it.
func report(err error, stderr io.Writer) int {
	var usage *usageError
	var reported *reportedError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &usage):
		help := "signgate --help"
		if usage.cmd != "" {
			help = "signgate " + usage.cmd + " --help"
		}
		fmt.Fprintf(stderr, "signgate: %v\nRun '%s' for usage.\n", err, help)
		return exitUsage
	case errors.As(err, &reported):
		return exitFailure
	}
	fmt.Fprintln(stderr, "signgate:", err)
	return exitFailure
}

// parseArgs parses fs's flags wherever they stand among the arguments and
// returns the positional ones; more than maxArgs (-1: any number) is a
// usage error. -h, -help and --help print usage and fs's flags on stdout.
// The flag package itself prints nothing, so an error is printed once.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer, usage string, maxArgs int) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(fs, stdout, usage)
			return nil, errHelpShown
		}
		if err != nil {
			return nil, &usageError{cmd: fs.Name(), err: err}
		}
		if fs.NArg() == 0 {
			break
		}
		if fs.Arg(0) == "--" {
			pos = append(pos, fs.Args()[1:]...)
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if maxArgs >= 0 && len(pos) > maxArgs {
		return nil, usagef(fs.Name(), "%s: unexpected argument %q", fs.Name(), pos[maxArgs])
	}
	return pos, nil
}

func printHelp(fs *flag.FlagSet, stdout io.Writer, usage string) {
	fmt.Fprint(stdout, usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(stdout, "\nflags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// isTerminal reports whether r is an interactive terminal, where reading
// "until the end" would wait for a ^D that nobody knows to type.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}
