package main

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

func TestAdminReport(t *testing.T) {
	t.Parallel()
	data := newDataFolder(t)
	code, out, errOut := runCmd(t, "admin", "report", "--data", data, "--community", "yuqiao", "--from", "2022-12-01", "--to", "2023-01-01")
	if code != 0 || !strings.Contains(out, "community yuqiao") || !strings.Contains(out, "resolution rate") || !strings.Contains(out, "(none)") {
		t.Fatalf("report of an empty community: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, "admin", "report", "--data", data, "--community", "yuqiao", "--csv")
	if code != 0 || !strings.HasPrefix(out, "section,key,value\n") || !strings.Contains(out, "summary,requests,0\n") {
		t.Fatalf("csv report: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--data", data}, // no community
		{"--data", data, "--community", "nowhere"}, // unknown community
		{"--data", data, "--community", "yuqiao", "--from", "yesterday"},
		{"--data", data, "--community", "yuqiao", "--from", "2023-01-01", "--to", "2022-12-01"},
		{"--data", data, "--community", "yuqiao", "--addr", "127.0.0.1:1"}, // no --user
	} {
		if code, out, errOut := runCmd(t, append([]string{"admin", "report"}, args...)...); code == 0 || errOut == "" {
			t.Errorf("admin report %v: exit %d, stderr %q, stdout %q; want a failure with a message", args, code, errOut, out)
		}
	}
}

// TestAdminReportOnline: with --addr the report comes from the running
// server, asked as a staff member (the store is locked by the server).
func TestAdminReportOnline(t *testing.T) {
	t.Parallel()
	data := newDataFolder(t)
	srv, err := server.New(server.Config{DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.Service().AddMember(t.Context(), &linliv1.Member{UserId: "u-zhao", CommunityId: "yuqiao", Role: linliv1.Role_ROLE_STAFF, DisplayName: "赵主任"}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	code, out, errOut := runCmd(t, "admin", "report", "--data", data, "--community", "yuqiao", "--addr", addr, "--user", "u-zhao", "--csv")
	if code != 0 || !strings.Contains(out, "period,community,yuqiao\n") {
		t.Fatalf("online report: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCmd(t, "admin", "report", "--data", data, "--community", "yuqiao", "--addr", addr, "--user", "u-nobody")
	if code == 0 || !strings.Contains(errOut, "unauthenticated") {
		t.Errorf("as a non-member: exit %d, %s", code, errOut)
	}
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	r := &linliv1.Report{
		CommunityId: "yuqiao", From: timestamppb.New(time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC)), To: timestamppb.New(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)),
		Requests: 40, MetByNeighbours: 31, Overdue: 9, Escalated: 7, Closed: 6, Rated: 5, Solved: 4, Satisfied: 3, BasicallySatisfied: 1, Unsatisfied: 1,
		ResolutionRate: 0.8, SatisfactionRate: 0.8, MedianTimeToHelp: durationpb.New(47 * time.Minute),
		UnmetByCategory: []*linliv1.NeedCount{{Key: "fever_reducer", Count: 5}, {Key: "antigen_test", Count: 2}},
		UnmetByBuilding: []*linliv1.NeedCount{{Key: "b3", Count: 4}},
	}
	var table, csv bytes.Buffer
	if err := writeReportTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"80.0%", "47m0s", "退烧药 fever reducer", "b3", "met by neighbours"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := writeReportCSV(&csv, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"summary,resolution_rate,80.0%\n", "unmet_by_category,fever_reducer,5\n", "unmet_by_building,b3,4\n", "period,from,2022-12-01T00:00:00Z\n"} {
		if !strings.Contains(csv.String(), want) {
			t.Errorf("csv lacks %q:\n%s", want, csv.String())
		}
	}
}

// TestReportMedianRounding: short medians keep their seconds (85 s is not
// "1m0s"); long ones are shown to the minute.
func TestReportMedianRounding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1500 * time.Millisecond, "2s"},
		{85 * time.Second, "1m25s"},
		{47*time.Minute + 29*time.Second, "47m29s"},
		{2*time.Hour + 14*time.Minute + 40*time.Second, "2h15m0s"},
	} {
		r := &linliv1.Report{MedianTimeToHelp: durationpb.New(tc.d)}
		var got string
		for _, row := range mutualaid.ReportRows(r) {
			if row.Key == "median_time_to_help" {
				got = row.Value
			}
		}
		if got != tc.want {
			t.Errorf("median %v shown as %q, want %q", tc.d, got, tc.want)
		}
	}
}
