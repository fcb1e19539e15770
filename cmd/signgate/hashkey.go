package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const hashKeyUsage = `usage: echo -n KEY | signgate hash-key
       signgate hash-key < key.txt

Print the SHA-256 of the API key read from stdin, the value that
auth.api_keys[].sha256 holds. The key is read from stdin, never from the
command line, so that it stays out of the shell's history.
`

func hashKeyCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("hash-key", flag.ContinueOnError)
	if _, err := parseArgs(fs, args, stdout, hashKeyUsage, 0); err != nil {
		return err
	}
	if isTerminal(stdin) {
		return usagef(fs.Name(), "hash-key reads the key from stdin, which is a terminal: pipe the key in, for example: echo -n KEY | signgate hash-key")
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return errors.New("hash-key: no key on stdin")
	}
	sum := sha256.Sum256([]byte(key))
	fmt.Fprintln(stdout, hex.EncodeToString(sum[:]))
	return nil
}
