package main

import (
	"context"
	"io"

	"github.com/linli/linli/internal/demo"
)

// runDemo is `linli demo`: flags for demo.Run.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg demo.Config
	fs := newFlagSet("linli demo", stderr)
	fs.StringVar(&cfg.Addr, "addr", "", "a running server (host:port); empty: an in-process one")
	fs.StringVar(&cfg.AdminCode, "admin-code", "", "with --addr: the one-time admin join code the server printed on first start")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return demo.Run(ctx, cfg, stdout)
}
