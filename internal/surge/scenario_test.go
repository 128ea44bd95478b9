package surge

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/surge-scenario.json from Default()")

// scenarioFile is the default scenario as the docs ship it.
const scenarioFile = "../../docs/surge-scenario.json"

// TestDefaultScenarioFile: the scenario file in docs is the default
// scenario (go test -update rewrites it).
func TestDefaultScenarioFile(t *testing.T) {
	want := Default().JSON()
	if *update {
		if err := os.WriteFile(scenarioFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(scenarioFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from Default(); run go test ./internal/surge -run TestDefaultScenarioFile -update", scenarioFile)
	}
	sc, err := Load(scenarioFile)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if string(sc.JSON()) != string(want) {
		t.Error("loading the default file does not give the default scenario")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("PartialKeepsDefaults", func(t *testing.T) {
		sc, err := Load(write("partial.json", `{"households": 300, "people": {"look_minutes": 40}}`))
		if err != nil {
			t.Fatal(err)
		}
		def := Default()
		if sc.Households != 300 || sc.People.LookMinutes != 40 || sc.People.WaitingLookMinutes != def.People.WaitingLookMinutes || len(sc.Needs) != len(def.Needs) {
			t.Errorf("partial scenario: households %d, look %v, waiting look %v, %d needs", sc.Households, sc.People.LookMinutes, sc.People.WaitingLookMinutes, len(sc.Needs))
		}
	})
	for _, tc := range []struct{ name, body, want string }{
		{"UnknownField", `{"househods": 300}`, "unknown field"},
		{"BadShare", `{"willing_share": 1.5}`, "willing_share"},
		{"UnknownItem", `{"needs": [{"kind": "x", "item": "aspirin-9000", "name": "x", "quantity": 1, "for": "household", "share": 0.1}]}`, "not in the catalog"},
		{"Prescription", `{"spares": [{"item": "oseltamivir-capsule", "name": "奥司他韦", "share": 0.1, "min": 1, "max": 1}]}`, "prescription"},
		{"BadClock", `{"staff": {"office_opens": "8h30"}}`, "office_opens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(tc.name+".json", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
