package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/linli/linli/server"
)

type serveFlags struct {
	listen string
	data   string
	log    logFlags
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("linli serve", stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&f.data, "data", "./linli-data", "data folder: the store and the signing keys")
	f.log.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	firstStart := !exists(filepath.Join(f.data, "keys"))
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	srv, err := server.New(server.Config{DataDir: f.data, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), srv.Close())
	}
	log.Info("linli listening", "addr", ln.Addr().String(), "data", f.data)
	if firstStart {
		printWelcome(stdout, ln.Addr().String(), f.data)
	}
	err = srv.Serve(ctx, ln)
	log.Info("linli stopped")
	return errors.Join(err, srv.Close())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func printWelcome(w io.Writer, addr, data string) {
	fmt.Fprintf(w, `
linli is running at http://%[1]s with its data in %[2]s.
Mint a token (it signs with the key just created in %[2]s/keys) and pull your feed:

  TOKEN=$(go run ./cmd/linli admin token --data %[2]s --user u1 --community c1 --role resident)
  curl -sS http://%[1]s/linli.v1.SyncService/Pull \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"protocolVersion": 1}'

`, addr, data)
}
