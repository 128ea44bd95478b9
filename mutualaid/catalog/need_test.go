package catalog_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/linli/linli/mutualaid/catalog"
)

// TestLookupNeed: a need is found by its code and by each of its names, in
// Chinese or English, as a parent would type them; a product name is no
// need.
func TestLookupNeed(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	for _, tc := range []struct{ name, want string }{
		{"儿童退烧药", "child-fever-reducer"},
		{"children's fever reducer", "child-fever-reducer"},
		{"Children’s Fever Reducer", "child-fever-reducer"},
		{"child-fever-reducer", "child-fever-reducer"},
		{"小儿退烧药", "child-fever-reducer"},
		{"退烧药", "fever-reducer"},
		{"fever reducer", "fever-reducer"},
		{"抗原检测", "covid-antigen-test"},
		{"美林", ""},
		{"ibuprofen-suspension-child", ""},
		{"退烧", ""},
	} {
		n, ok := c.LookupNeed(tc.name)
		if got := map[bool]string{true: n.Code, false: ""}[ok]; got != tc.want {
			t.Errorf("LookupNeed(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestChildFeverReducerNeed: the children's fever reducer is met by 美林
// (ibuprofen suspension) and 泰诺林 (acetaminophen suspension), never by an
// adult-only or a prescription item, whatever the child's age.
func TestChildFeverReducerNeed(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	need, ok := c.Need("child-fever-reducer")
	if !ok {
		t.Fatal("the catalog has no child-fever-reducer need")
	}
	for _, code := range []string{"ibuprofen-suspension-child", "acetaminophen-suspension-child"} {
		if !slices.Contains(need.ItemCodes, code) {
			t.Errorf("ItemCodes %v lack %s", need.ItemCodes, code)
		}
		it, _ := c.Item(code)
		if ok, reason := catalog.FitsNeed(need, it, 0); !ok || reason != "children's fever reducer" {
			t.Errorf("FitsNeed(%s) = %v %q, want true \"children's fever reducer\"", code, ok, reason)
		}
	}
	for _, code := range []string{"ibuprofen-tablet", "acetaminophen-tablet-tylenol", "loxoprofen-tablet"} {
		it, _ := c.Item(code)
		if ok, _ := catalog.FitsNeed(need, it, 0); ok || slices.Contains(need.ItemCodes, code) {
			t.Errorf("%s (adult only) fits the children's fever reducer", code)
		}
	}
	// A 2-month-old: drops from 3 or 6 months do not fit.
	for _, it := range c.Items() {
		if ok, _ := catalog.FitsNeed(need, it, 2); ok && it.MinAgeMonths > 2 {
			t.Errorf("%s (from %d months) fits a 2-month-old", it.Code, it.MinAgeMonths)
		}
	}
	// No need is ever met by a prescription drug or, for a child, by an
	// item that is not child-safe.
	nPrescription := 0
	for _, it := range c.Items() {
		if it.Prescription {
			nPrescription++
		}
		for _, n := range c.Needs() {
			ok, reason := catalog.FitsNeed(n, it, 0)
			switch {
			case it.Prescription && (ok || slices.Contains(n.ItemCodes, it.Code)):
				t.Errorf("prescription %s fits need %s", it.Code, n.Code)
			case it.Prescription && !strings.Contains(reason, "prescription"):
				t.Errorf("prescription %s for need %s: reason %q", it.Code, n.Code, reason)
			case n.Child && !it.ChildSafe && ok:
				t.Errorf("%s (not child-safe) fits child need %s", it.Code, n.Code)
			}
		}
	}
	if nPrescription == 0 {
		t.Fatal("the catalog has no prescription item: the test proves nothing")
	}
}

// TestParseNeeds: a need's mistakes are reported, never half-loaded.
func TestParseNeeds(t *testing.T) {
	t.Parallel()
	items := `{"code": "meilin", "name_zh": "美林", "name_en": "Motrin", "category": "fever_reducer", "unit": "bottle", "unit_zh": "瓶", "medicine": true, "child_safe": true, "prescription": false}`
	for _, tc := range []struct{ name, needs, want string }{
		{"CodeOfAnItem", `{"code": "meilin", "name_zh": "退烧药", "name_en": "fever reducer", "category": "fever_reducer", "child": false}`, "also an item's code"},
		{"ChildFlagMissing", `{"code": "fr", "name_zh": "退烧药", "name_en": "fever reducer", "category": "fever_reducer"}`, "child flag is missing"},
		{"CategoryOther", `{"code": "x", "name_zh": "其他", "name_en": "other", "category": "other", "child": false}`, "known category"},
		{"NoItemFits", `{"code": "t", "name_zh": "体温计", "name_en": "thermometer", "category": "thermometer", "child": false}`, "no item fits"},
		{"NameTwice", `{"code": "a", "name_zh": "退烧药", "name_en": "fever reducer", "category": "fever_reducer", "child": false}, {"code": "b", "name_zh": "退烧药", "name_en": "antipyretic", "category": "fever_reducer", "child": true}`, "also claimed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catalog.Parse([]byte(`{"items": [` + items + `], "needs": [` + tc.needs + `]}`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: got %v, want an error with %q", err, tc.want)
			}
		})
	}
	c, err := catalog.Parse([]byte(`{"items": [` + items + `], "needs": [{"code": "fr", "name_zh": "退烧药", "name_en": "fever reducer", "category": "fever_reducer", "child": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := c.LookupNeed("退烧药"); !ok || !slices.Equal(n.ItemCodes, []string{"meilin"}) {
		t.Errorf("LookupNeed: got %+v, %v", n, ok)
	}
	if c.Version() == "" || c.Version() == catalog.Default().Version() {
		t.Errorf("Version %q: want one of its own", c.Version())
	}
}
