package sync_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	linlisync "github.com/linli/linli/sync"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := linlisync.Cursor{Epoch: [16]byte{1, 2, 3}, Seqs: map[string]uint64{"community/c1": 42, "user/u1": 7, "staff/c1": 0}}
	got, err := linlisync.DecodeCursor(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != c.Epoch || len(got.Seqs) != 3 || got.Seqs["community/c1"] != 42 || got.Seqs["user/u1"] != 7 {
		t.Fatalf("round trip = %+v, want %+v", got, c)
	}
	if c.Encode() != got.Encode() {
		t.Fatal("encoding is not canonical")
	}
}

func TestDecodeCursorRejectsGarbage(t *testing.T) {
	t.Parallel()
	for name, tok := range map[string]string{
		"not base64":    "!!!",
		"short":         "AQ",
		"bad version":   "AgAAAAAAAAAAAAAAAAAAAAAA",
		"truncated":     linlisync.Cursor{Seqs: map[string]uint64{"community/c1": 1}}.Encode()[:30],
		"huge":          strings.Repeat("A", 20000),
		"trailing junk": linlisync.Cursor{}.Encode() + "AAAA",
	} {
		if _, err := linlisync.DecodeCursor(tok); !errors.Is(err, linlisync.ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", name, err)
		}
	}
}

// FuzzDecodeCursor: no panic; what decodes re-encodes to a token that decodes equally.
func FuzzDecodeCursor(f *testing.F) {
	seeds, err := filepath.Glob("testdata/cursors/*")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/cursors (%v)", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSpace(string(b)))
	}
	f.Add("")
	f.Add(linlisync.Cursor{Seqs: map[string]uint64{"community/c1": 1, "user/u1": 99}}.Encode())
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := linlisync.DecodeCursor(tok)
		if err != nil {
			if !errors.Is(err, linlisync.ErrBadCursor) {
				t.Fatalf("error %v does not wrap ErrBadCursor", err)
			}
			return
		}
		again, err := linlisync.DecodeCursor(c.Encode())
		if err != nil || again.Encode() != c.Encode() {
			t.Fatalf("re-encoding %q failed: %v", tok, err)
		}
	})
}
