package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/signgate/signgate/server/config"
)

// checkSecretFiles warns about every secret file its group or others may
// read, or, with server.strict_secret_files, refuses to start.
func checkSecretFiles(cfg *config.Config, log *slog.Logger) error {
	loose := cfg.LooseSecretFiles()
	if len(loose) == 0 {
		return nil
	}
	if cfg.Server.StrictSecretFiles {
		return fmt.Errorf("secret files readable by others (server.strict_secret_files is set): %s", strings.Join(loose, "; "))
	}
	for _, l := range loose {
		log.Warn("secret file readable by others; chmod 0600 it, or set server.strict_secret_files to refuse to start", "file", l)
	}
	return nil
}
