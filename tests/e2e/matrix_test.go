package e2e

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// results is the matrix: one cell per case and provider.
var results = struct {
	mu    sync.Mutex
	cells map[string]string // row + "\x00" + provider
}{cells: map[string]string{}}

func setCell(row, provider, value string) {
	results.mu.Lock()
	defer results.mu.Unlock()
	results.cells[row+"\x00"+provider] = value
}

func cell(row, provider string) string {
	results.mu.Lock()
	defer results.mu.Unlock()
	if v, ok := results.cells[row+"\x00"+provider]; ok {
		return v
	}
	return "n/a: not run (filtered out by -run)"
}

// recordOutcome sets the cell of a finished subtest: FAIL if it failed,
// else "n/a: why" if the case cannot apply to the provider (the subtest
// still checks how signgate handles that), else PASS.
func recordOutcome(t *testing.T, row, provider string, notApplicable *string) {
	switch {
	case t.Failed():
		setCell(row, provider, "FAIL")
	case t.Skipped():
		// Cells of skipped providers are set before skipping.
	case *notApplicable != "":
		setCell(row, provider, "n/a: "+*notApplicable)
	default:
		setCell(row, provider, "PASS")
	}
}

// printMatrix writes the matrix as a Markdown table.
func printMatrix(w io.Writer) {
	var b strings.Builder
	b.WriteString("\n| # | case |")
	for _, p := range providers {
		fmt.Fprintf(&b, " %s |", p.name)
	}
	b.WriteString("\n|---|---|")
	for range providers {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for i, c := range cases {
		fmt.Fprintf(&b, "| %d | %s |", i+1, c.row)
		for _, p := range providers {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(cell(c.row, p.name), "|", `\|`))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}
