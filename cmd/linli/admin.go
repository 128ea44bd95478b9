package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

const adminUsage = `usage: linli admin <command> [flags]

Commands that change the store open the data folder directly: stop the
server first (or use CommunityService with a staff or admin token).

  init          create the first community and print a one-time admin join code
  community     create a community
  building      create or replace a building with its drop points
  join-code     make a join code (resident, volunteer, staff or admin)
  rotate-key    add a new signing key (the running server uses it within 30 s)
  token         mint an access token for an existing member (for operators)
  backup        write a consistent backup of the store (--addr: through the running server)
  restore       put a backup in place of the store (server stopped); clients resync
  check         verify the store's integrity (server stopped); exit 1 on problems
  report        a community's requests, resolution and satisfaction rates (--csv; --addr: through the running server)
`

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return errUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"backup": runAdminBackup, "restore": runAdminRestore, "check": runAdminCheck, "report": runAdminReport,
		"init": runAdminInit, "community": runAdminCommunity, "building": runAdminBuilding,
		"join-code": runAdminJoinCode, "rotate-key": runAdminRotateKey,
		"token": func(_ context.Context, a []string, o, e io.Writer) error { return runAdminToken(a, o, e) },
	}
	run, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "linli admin: unknown command %q\n\n%s", args[0], adminUsage)
		return errUsage
	}
	return run(ctx, args[1:], stdout, stderr)
}

// openOffline opens the domain service over a data folder's store, for an
// admin command run while the server is stopped.
func openOffline(data string) (*mutualaid.Service, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	svc, err := openStore(storeDir(data))
	if err != nil {
		return nil, fmt.Errorf("open the store in %s (is the server running? stop it first): %w", data, err)
	}
	return svc, nil
}

// openOfflineWrite is openOffline for a command that changes the store: a
// cluster node's store is a copy of the cluster's log, changed only
// through it, so it is refused.
func openOfflineWrite(data string) (*mutualaid.Service, error) {
	svc, err := openOffline(data)
	if err != nil {
		return nil, err
	}
	if svc.ReplicaPosition() > 0 {
		return nil, errors.Join(fmt.Errorf("%s is a node of a linli cluster: its store is a copy of the cluster's log, changed only through it; "+
			"use the API (CommunityService, the staff console) on any running node instead", data), svc.Close())
	}
	return svc, nil
}

type communityFlags struct {
	data, id, name, district, streetOffice string
}

func (c *communityFlags) register(fs *flagSet) {
	fs.StringVar(&c.data, "data", "./linli-data", "data folder")
	fs.StringVar(&c.id, "community", "", "community id: 1 to 64 of A-Z a-z 0-9 _ - (required)")
	fs.StringVar(&c.name, "name", "", "community name, e.g. 玉桥社区 (required)")
	fs.StringVar(&c.district, "district", "", "district the hotline dispatches by, e.g. 通州区 (required)")
	fs.StringVar(&c.streetOffice, "street-office", "", "street office, e.g. 玉桥街道 (required)")
}

func (c *communityFlags) community() *linliv1.Community {
	return &linliv1.Community{Id: c.id, Name: c.name, District: c.district, StreetOffice: c.streetOffice}
}

// openStore opens the domain service over the store in dir for an admin
// command: no background jobs, no tombstone drops, no logs.
func openStore(dir string) (*mutualaid.Service, error) {
	return mutualaid.Open(mutualaid.Config{Dir: dir, Logger: discardLogger(), Store: linlisync.Options{DropInterval: -1}})
}

// runAdminInit creates the first community and prints a one-time admin code.
func runAdminInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return withCommunity("linli admin init", args, stderr, func(svc *mutualaid.Service, c *linliv1.Community) error {
		code, err := svc.Bootstrap(ctx, c)
		if err == nil {
			printAdminCode(stdout, c.GetId(), code)
		}
		return err
	})
}

// withCommunity parses the community flags, opens the data folder's store
// and runs fn on them.
func withCommunity(name string, args []string, stderr io.Writer, fn func(*mutualaid.Service, *linliv1.Community) error) error {
	var c communityFlags
	fs := newFlagSet(name, stderr)
	c.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o, err := openOfflineWrite(c.data)
	if err != nil {
		return err
	}
	defer o.Close()
	return fn(o, c.community())
}

func printAdminCode(w io.Writer, community, code string) {
	fmt.Fprintf(w, `Community %q is ready. Its first admin joins with this one-time code
(valid 7 days; it is shown only now):

  %s

`, community, code)
}

func runAdminCommunity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return withCommunity("linli admin community", args, stderr, func(svc *mutualaid.Service, c *linliv1.Community) error {
		out, err := svc.CreateCommunity(ctx, mutualaid.Operator, c)
		if err == nil {
			fmt.Fprintf(stdout, "created community %s (%s, %s %s)\n", out.GetId(), out.GetName(), out.GetDistrict(), out.GetStreetOffice())
		}
		return err
	})
}

// repeated is a flag that may be given many times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ", ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runAdminBuilding(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin building", stderr)
	data := fs.String("data", "./linli-data", "data folder")
	community := fs.String("community", "", "community id (required)")
	id := fs.String("id", "", "building id (required)")
	name := fs.String("name", "", "building name, e.g. 3号楼 (required)")
	var drops repeated
	fs.Var(&drops, "drop-point", "a drop point, e.g. \"15楼电梯口窗台\" (repeat for more)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o, err := openOfflineWrite(*data)
	if err != nil {
		return err
	}
	defer o.Close()
	b, err := o.PutBuilding(ctx, mutualaid.Operator, &linliv1.Building{Id: *id, CommunityId: *community, Name: *name, DropPoints: drops})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "building %s of %s: %s, drop points: %s\n", b.GetId(), b.GetCommunityId(), b.GetName(), strings.Join(b.GetDropPoints(), "; "))
	return nil
}

func runAdminJoinCode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin join-code", stderr)
	data := fs.String("data", "./linli-data", "data folder")
	community := fs.String("community", "", "community id (required)")
	building := fs.String("building", "", "building the newcomers live in (optional)")
	role := fs.String("role", "resident", "role: resident, volunteer, staff or admin")
	uses := fs.Uint("uses", 1, "how many people may use the code (1 to 10000)")
	valid := fs.Duration("valid", 7*24*time.Hour, "how long the code works (1m to 2160h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r, err := mutualaid.ParseRole(*role)
	if err != nil {
		return err
	}
	if *uses < 1 || *uses > 10_000 || *valid < time.Minute || *valid > 90*24*time.Hour {
		return errors.New("--uses must be 1 to 10000 and --valid 1m to 2160h")
	}
	o, err := openOfflineWrite(*data)
	if err != nil {
		return err
	}
	defer o.Close()
	code, _, err := o.CreateJoinCode(ctx, mutualaid.Operator, mutualaid.JoinCodeSpec{
		CommunityID: *community, BuildingID: *building, Role: r.Proto(),
		ValidFor: *valid, MaxUses: uint32(*uses), CreatedBy: mutualaid.Operator.UserID,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, code)
	return nil
}

func runAdminRotateKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin rotate-key", stderr)
	data := fs.String("data", "./linli-data", "data folder holding the signing keys")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keys, err := server.AddKey(*data)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s; older keys keep verifying their tokens until you delete their files from %s\n",
		keys.CurrentID(), filepath.Join(*data, "keys"))
	return nil
}

// runAdminToken mints an access token with the data folder's current key
// and prints it alone on stdout. The server accepts it only for a member
// that exists in the store.
func runAdminToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin token", stderr)
	data := fs.String("data", "./linli-data", "data folder holding the signing keys")
	user := fs.String("user", "", "user id (required)")
	community := fs.String("community", "", "community id (required)")
	role := fs.String("role", "resident", "role claim: resident, volunteer, staff or admin (the store's role wins)")
	client := fs.String("client", "", "client (device) id to bind the token to (optional)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" || *community == "" {
		return errors.New("--user and --community are required")
	}
	r, err := mutualaid.ParseRole(*role)
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
