package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// runAdminReport is `linli admin report`: a community's requests, how they
// were met, and the hotline's resolution and satisfaction rates over a
// period, as a table or CSV. With --addr it asks the running server (as
// --user, a staff member or admin, with a token signed by the data
// folder's key); without, it reads the stopped server's data folder.
func runAdminReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin report", stderr)
	data := fs.String("data", "./linli-data", "data folder (read directly, or with --addr only for its signing keys)")
	community := fs.String("community", "", "community id (required)")
	fromS := fs.String("from", "", "start of the period, YYYY-MM-DD or RFC 3339 (default: 30 days before --to)")
	toS := fs.String("to", "", "end of the period (exclusive), YYYY-MM-DD or RFC 3339 (default: now)")
	asCSV := fs.Bool("csv", false, "print CSV (section,key,value) instead of a table")
	addr := fs.String("addr", "", "host:port or URL of the running server: ask it instead of reading the data folder")
	user := fs.String("user", "", "with --addr: the staff member or admin to ask as (required)")
	userCommunity := fs.String("user-community", "", "with --addr: the community --user is a member of (default: --community; an admin's own)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *community == "" {
		return errors.New("--community is required")
	}
	from, hasFrom, err := parseReportTime("--from", *fromS)
	if err != nil {
		return err
	}
	to, hasTo, err := parseReportTime("--to", *toS)
	if err != nil {
		return err
	}
	from, to = server.ReportPeriod(from, to, hasFrom, hasTo, time.Now())
	var r *linliv1.Report
	if *addr != "" {
		asUser := server.Principal{UserID: *user, CommunityID: cmp.Or(*userCommunity, *community), Role: mutualaid.RoleStaff}
		r, err = reportOnline(ctx, *addr, *data, asUser, *community, from, to)
	} else {
		r, err = reportOffline(ctx, *data, *community, from, to)
	}
	if err != nil {
		return err
	}
	if *asCSV {
		return writeReportCSV(stdout, r)
	}
	return writeReportTable(stdout, r)
}

// parseReportTime reads a date (local midnight) or an RFC 3339 time.
func parseReportTime(flag, s string) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, true, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s %q: want YYYY-MM-DD or an RFC 3339 time", flag, s)
	}
	return t, true, nil
}

func reportOffline(ctx context.Context, data, community string, from, to time.Time) (*linliv1.Report, error) {
	o, err := openOffline(data)
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --addr and --user to ask the running server)", err)
	}
	defer o.Close()
	if _, ok, err := o.Community(community); err != nil || !ok {
		return nil, errors.Join(fmt.Errorf("no community %q in %s", community, data), err)
	}
	return o.Report(ctx, mutualaid.Operator, community, from, to)
}

// reportOnline asks the running server at addr, as user (a token signed
// with data's key; the server checks the user's current membership).
func reportOnline(ctx context.Context, addr, data string, user server.Principal, community string, from, to time.Time) (*linliv1.Report, error) {
	if user.UserID == "" {
		return nil, errors.New("--addr needs --user: the staff member or admin to ask as")
	}
	keys, err := serverKeys(data)
	if err != nil {
		return nil, err
	}
	tok, err := server.NewTokens(keys).Mint(user, 5*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	c := linliv1connect.NewStaffServiceClient(&http.Client{Timeout: time.Minute}, serverURL(addr),
		connect.WithInterceptors(bearer.Token(tok)))
	res, err := c.GetReport(ctx, &linliv1.GetReportRequest{
		ProtocolVersion: 1, CommunityId: community, From: timestamppb.New(from), To: timestamppb.New(to),
	})
	if err != nil {
		return nil, fmt.Errorf("report from %s: %w", addr, err)
	}
	return res.GetReport(), nil
}

// reportRows are the report's figures in order: key, label, value.
func reportRows(r *linliv1.Report) [][3]string {
	n := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	pct := func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
	median := "-"
	if d := r.GetMedianTimeToHelp(); d != nil {
		median = roundDuration(d.AsDuration()).String()
	}
	return [][3]string{
		{"requests", "requests", n(r.GetRequests())},
		{"met_by_neighbours", "met by neighbours", n(r.GetMetByNeighbours())},
		{"overdue", "overdue (staff queue)", n(r.GetOverdue())},
		{"escalated", "forwarded to the hotline", n(r.GetEscalated())},
		{"closed", "resolved by the hotline (case closed)", n(r.GetClosed())},
		{"rated", "rated by residents", n(r.GetRated())},
		{"solved", "  solved", n(r.GetSolved())},
		{"satisfied", "  satisfied", n(r.GetSatisfied())},
		{"basically_satisfied", "  basically satisfied", n(r.GetBasicallySatisfied())},
		{"unsatisfied", "  unsatisfied", n(r.GetUnsatisfied())},
		{"resolution_rate", "resolution rate", pct(r.GetResolutionRate())},
		{"satisfaction_rate", "satisfaction rate", pct(r.GetSatisfactionRate())},
		{"median_time_to_help", "median time to help", median},
	}
}

// roundDuration rounds to the second below an hour (85 s stays "1m25s",
// where rounding to the minute would say "1m0s") and to the minute above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Hour {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

func writeReportTable(w io.Writer, r *linliv1.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "linli report: community %s, %s to %s\n\n", r.GetCommunityId(),
		r.GetFrom().AsTime().Local().Format(time.DateTime), r.GetTo().AsTime().Local().Format(time.DateTime))
	for _, row := range reportRows(r) {
		fmt.Fprintf(tw, "%s\t%s\n", row[1], row[2])
	}
	for _, sec := range []struct {
		title string
		needs []*linliv1.NeedCount
		label func(string) string
	}{
		{"most frequent unmet needs, by item category", r.GetUnmetByCategory(), categoryLabel},
		{"most frequent unmet needs, by building", r.GetUnmetByBuilding(), func(k string) string { return k }},
	} {
		fmt.Fprintf(tw, "\n%s\n", sec.title)
		if len(sec.needs) == 0 {
			fmt.Fprintln(tw, "  (none)")
		}
		for _, nc := range sec.needs {
			fmt.Fprintf(tw, "  %s\t%d\n", sec.label(nc.GetKey()), nc.GetCount())
		}
	}
	return tw.Flush()
}

func categoryLabel(k string) string {
	c := catalog.Category(k)
	if !c.Valid() {
		return k
	}
	return fmt.Sprintf("%s %s", c.DisplayZH(), c.DisplayEN())
}

func writeReportCSV(w io.Writer, r *linliv1.Report) error {
	cw := csv.NewWriter(w)
	rows := [][]string{{"section", "key", "value"},
		{"period", "community", r.GetCommunityId()},
		{"period", "from", r.GetFrom().AsTime().Format(time.RFC3339)},
		{"period", "to", r.GetTo().AsTime().Format(time.RFC3339)},
	}
	for _, row := range reportRows(r) {
		rows = append(rows, []string{"summary", row[0], row[2]})
	}
	for _, nc := range r.GetUnmetByCategory() {
		rows = append(rows, []string{"unmet_by_category", nc.GetKey(), strconv.FormatUint(uint64(nc.GetCount()), 10)})
	}
	for _, nc := range r.GetUnmetByBuilding() {
		rows = append(rows, []string{"unmet_by_building", nc.GetKey(), strconv.FormatUint(uint64(nc.GetCount()), 10)})
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
