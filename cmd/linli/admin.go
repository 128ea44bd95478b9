package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linli/linli/server"
)

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: linli admin token [flags]")
		return errUsage
	}
	switch args[0] {
	case "token":
		return runAdminToken(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "linli admin: unknown command %q (want: token)\n", args[0])
	return errUsage
}

// runAdminToken mints an access token with the data folder's current key
// and prints it alone on stdout.
func runAdminToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin token", stderr)
	data := fs.String("data", "./linli-data", "data folder holding the signing keys")
	user := fs.String("user", "", "user id (required)")
	community := fs.String("community", "", "community id (required)")
	role := fs.String("role", "resident", "role: resident, volunteer, staff or admin")
	client := fs.String("client", "", "client (device) id to bind the token to (optional)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" || *community == "" {
		return errors.New("--user and --community are required")
	}
	r, err := server.ParseRole(*role)
	if err != nil {
		return err
	}
	if *ttl <= 0 || *ttl > 90*24*time.Hour {
		return errors.New("--ttl must be between 1s and 90 days")
	}
	keys, err := server.LoadOrCreateKeys(*data)
	if err != nil {
		return err
	}
	tok, err := server.NewTokens(keys).Mint(server.Principal{
		UserID: *user, CommunityID: *community, Role: r, ClientID: *client,
	}, *ttl)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
