package catalog

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// mustCatalogItem returns the embedded catalog's item with this code.
func mustCatalogItem(tb testing.TB, code string) Item {
	tb.Helper()
	it, ok := Default().Item(code)
	if !ok {
		tb.Fatalf("Default().Item(%q): not found", code)
	}
	return it
}

func itemCodes(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Code
	}
	return out
}

func TestCatalogEmbedded(t *testing.T) {
	c, err := defaultCatalog()
	if err != nil {
		t.Fatalf("embedded catalog.json: %v", err)
	}
	if got := Default(); got != c {
		t.Errorf("Default() = %p, want the catalog parsed once (%p)", got, c)
	}
	if got, want := len(c.items), 70; got < want {
		t.Errorf("len(items) = %d, want at least %d", got, want)
	}
	for _, cat := range categories() {
		if got := len(inCategory(c, cat)); got == 0 {
			t.Errorf("category %q has no item, want at least one", cat)
		}
	}
	var total int
	for _, cat := range categories() {
		total += len(inCategory(c, cat))
	}
	if got, want := total, len(c.items); got != want {
		t.Errorf("items over all categories = %d, want %d (every item in a known category)", got, want)
	}
	// Codes that other code and fixtures rely on.
	for _, code := range []string{"ibuprofen-suspension-child", "acetaminophen-suspension-child", "antigen-test"} {
		if _, ok := c.Item(code); !ok {
			t.Errorf("Item(%q) not found", code)
		}
	}
}

func TestCatalogItemFlags(t *testing.T) {
	tests := []struct {
		code                              string
		category                          Category
		medicine, childSafe, prescription bool
		minAgeMonths                      int
	}{
		{"ibuprofen-suspension-child", CategoryFeverReducer, true, true, false, 6},
		{"ibuprofen-drops-infant", CategoryFeverReducer, true, true, false, 6},
		{"ibuprofen-tablet", CategoryFeverReducer, true, false, false, 0},
		{"ibuprofen-capsule-sr", CategoryFeverReducer, true, false, false, 0},
		{"acetaminophen-suspension-child", CategoryFeverReducer, true, true, false, 3},
		{"acetaminophen-drops-infant", CategoryFeverReducer, true, true, false, 3},
		{"acetaminophen-tablet", CategoryFeverReducer, true, false, false, 0},
		{"antigen-test", CategoryAntigenTest, false, true, false, 0},
		{"thermometer-mercury", CategoryThermometer, false, false, false, 0},
		{"pulse-oximeter", CategoryOximeter, false, true, false, 0},
		{"lianhua-qingwen-capsule", CategoryColdMedicine, true, false, false, 0},
		{"ors-iii", CategoryElectrolyte, true, true, false, 0},
		{"disinfectant-84", CategoryDisinfectant, false, true, false, 0},
		{"mask-n95", CategoryMask, false, false, false, 0},
		{"gloves-nitrile", CategoryGloves, false, true, false, 0},
		{"infant-formula-stage1", CategoryBaby, false, true, false, 0},
		{"canned-yellow-peach", CategoryFood, false, true, false, 0},
		{"amoxicillin-capsule", CategoryOther, true, false, true, 0},
		{"oseltamivir-capsule", CategoryColdMedicine, true, false, true, 0},
		{"oseltamivir-granules-child", CategoryColdMedicine, true, true, true, 12},
		{"cefixime-granules-child", CategoryOther, true, true, true, 6},
		{"budesonide-inhaler", CategoryColdMedicine, true, false, true, 0},
		{"paxlovid", CategoryOther, true, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			it := mustCatalogItem(t, tt.code)
			if it.Category != tt.category {
				t.Errorf("Category = %q, want %q", it.Category, tt.category)
			}
			if it.Medicine != tt.medicine || it.ChildSafe != tt.childSafe || it.Prescription != tt.prescription {
				t.Errorf("Medicine, ChildSafe, Prescription = %v, %v, %v, want %v, %v, %v",
					it.Medicine, it.ChildSafe, it.Prescription, tt.medicine, tt.childSafe, tt.prescription)
			}
			if it.MinAgeMonths != tt.minAgeMonths {
				t.Errorf("MinAgeMonths = %d, want %d", it.MinAgeMonths, tt.minAgeMonths)
			}
			if it.NameZH == "" || it.NameEN == "" || it.Unit == "" || it.UnitZH == "" {
				t.Errorf("names and units must be set: %+v", it)
			}
		})
	}
}

func TestCatalogReturnsCopies(t *testing.T) {
	c := Default()
	it, _ := c.Item("ibuprofen-suspension-child")
	want := it.Synonyms[0]
	c.Lookup("美林")[0].Synonyms[0] = "changed"
	if got := mustCatalogItem(t, "ibuprofen-suspension-child").Synonyms[0]; got != want {
		t.Errorf("Synonyms[0] after callers modified their copies = %q, want %q", got, want)
	}
}

func TestCatalogItemsInFileOrder(t *testing.T) {
	c := Default()
	if got, want := c.items[0].Code, "ibuprofen-suspension-child"; got != want {
		t.Errorf("items[0].Code = %q, want %q (file order)", got, want)
	}
	if got := inCategory(c, "vitamins"); got != nil {
		t.Errorf("items of an unknown category = %v, want nil", itemCodes(got))
	}
}

// categories are the known categories in display order.
func categories() []Category {
	out := make([]Category, len(categoryDisplay))
	for i, d := range categoryDisplay {
		out[i] = d.c
	}
	return out
}

// inCategory lists c's items of category cat, in file order.
func inCategory(c *Catalog, cat Category) []Item {
	var out []Item
	for _, it := range c.items {
		if it.Category == cat {
			out = append(out, it)
		}
	}
	return out
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantFirst string   // "" when nothing must match
		wantAlso  []string // must be among the results
		wantNot   []string // must not be among the results
	}{
		{"BrandZH", "美林", "ibuprofen-suspension-child", []string{"ibuprofen-drops-infant"}, []string{"ibuprofen-tablet"}},
		{"BrandEN", "motrin", "ibuprofen-suspension-child", nil, nil},
		{"BrandENUpper", "MOTRIN", "ibuprofen-suspension-child", nil, nil},
		{"FullWidth", "ＭＯＴＲＩＮ", "ibuprofen-suspension-child", nil, nil},
		{"IdeographicSpace", "美林　", "ibuprofen-suspension-child", nil, nil},
		{"Spaces", "  Motrin \t", "ibuprofen-suspension-child", nil, nil},
		{"GenericEN", "IBUPROFEN", "ibuprofen-suspension-child", []string{"ibuprofen-tablet", "ibuprofen-capsule-sr"}, nil},
		{"TylenolZH", "泰诺林", "acetaminophen-suspension-child", []string{"acetaminophen-tablet-tylenol", "acetaminophen-drops-infant"}, nil},
		{"TylenolEN", "tylenol", "acetaminophen-suspension-child", []string{"acetaminophen-tablet-tylenol"}, nil},
		{"TypographicApostrophe", "children’s tylenol", "acetaminophen-suspension-child", nil, nil},
		{"AcetaminophenZH", "对乙酰氨基酚", "acetaminophen-suspension-child",
			[]string{"acetaminophen-drops-infant", "acetaminophen-tablet", "acetaminophen-tablet-bufferin"}, []string{"ganmaoling-999"}},
		{"Paracetamol", "paracetamol", "acetaminophen-suspension-child", []string{"acetaminophen-tablet"}, nil},
		{"Bufferin", "百服宁", "acetaminophen-tablet-bufferin", []string{"acetaminophen-drops-infant"}, nil},
		{"Fenbid", "芬必得", "ibuprofen-capsule-sr", nil, nil},
		{"AntigenZH", "抗原", "antigen-test", nil, nil},
		{"AntigenEN", "antigen test", "antigen-test", nil, nil},
		{"AntigenFullWidthSpace", "Antigen　Test", "antigen-test", nil, nil},
		{"N95", "n95", "mask-n95", []string{"mask-kn95"}, nil},
		{"Disinfectant84", "84消毒液", "disinfectant-84", nil, nil},
		{"Disinfectant84FullWidth", "８４消毒液", "disinfectant-84", nil, nil},
		{"CannedYellowPeach", "黄桃罐头", "canned-yellow-peach", nil, nil},
		{"Oximeter", "血氧仪", "pulse-oximeter", nil, nil},
		{"LianhuaQingwen", "连花清瘟", "lianhua-qingwen-capsule", []string{"lianhua-qingwen-granules"}, nil},
		{"ORS", "ors", "ors-iii", nil, nil},
		{"Tamiflu", "达菲", "oseltamivir-capsule", nil, nil},
		{"Code", "ibuprofen-suspension-child", "ibuprofen-suspension-child", nil, nil},
		{"CodeUpper", "IBUPROFEN-SUSPENSION-CHILD", "ibuprofen-suspension-child", nil, nil},
		{"Substring", "布洛芬混悬", "ibuprofen-suspension-child", []string{"ibuprofen-drops-infant"}, nil},
		{"Unknown", "unicorn tears", "", nil, nil},
		{"Empty", "", "", nil, nil},
		{"OnlySpaces", " 　 ", "", nil, nil},
		{"OneRuneNoExact", "布", "", nil, nil},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := itemCodes(c.Lookup(tt.query))
			if tt.wantFirst == "" {
				if len(got) != 0 {
					t.Errorf("Lookup(%q) = %v, want none", tt.query, got)
				}
				return
			}
			if len(got) == 0 || got[0] != tt.wantFirst {
				t.Fatalf("Lookup(%q) = %v, want %q first", tt.query, got, tt.wantFirst)
			}
			for _, code := range tt.wantAlso {
				if !slices.Contains(got, code) {
					t.Errorf("Lookup(%q) = %v, want it to include %q", tt.query, got, code)
				}
			}
			for _, code := range tt.wantNot {
				if slices.Contains(got, code) {
					t.Errorf("Lookup(%q) = %v, want it not to include %q", tt.query, got, code)
				}
			}
			if dup := len(got) - len(slices.Compact(slices.Sorted(slices.Values(got)))); dup != 0 {
				t.Errorf("Lookup(%q) = %v, has %d duplicates", tt.query, got, dup)
			}
			if again := itemCodes(c.Lookup(tt.query)); !slices.Equal(again, got) {
				t.Errorf("Lookup(%q) twice = %v then %v, want the same order", tt.query, got, again)
			}
		})
	}
}

// TestLookupExactFirst pins the order: exact matches in file order, then
// containing matches in file order.
func TestLookupExactFirst(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		// 美林 is a synonym of the suspension; the drops only contain it (美林滴剂).
		{"美林", []string{"ibuprofen-suspension-child", "ibuprofen-drops-infant"}},
		// Exact: the suspension and Tylenol tablets; containing: the drops
		// (泰诺林滴剂), then Tylenol Cold (酚麻美敏) and its children's form.
		{"tylenol", []string{"acetaminophen-suspension-child", "acetaminophen-tablet-tylenol",
			"acetaminophen-drops-infant", "tylenol-cold", "tylenol-cold-suspension-child"}},
		{"n95", []string{"mask-n95", "mask-kn95"}},
		{"黄桃", []string{"canned-yellow-peach"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if got := itemCodes(Default().Lookup(tt.query)); !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

// catalogTestEntry is a valid catalog entry for Parse tests.
func catalogTestEntry(code string, category Category, synonyms ...string) map[string]any {
	return map[string]any{
		"code": code, "name_zh": "名称" + code, "name_en": "name " + code, "category": string(category),
		"unit": "box", "unit_zh": "盒", "medicine": true, "child_safe": true, "prescription": false,
		"synonyms": synonyms,
	}
}

func entryWith(e map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(e))
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func catalogTestJSON(tb testing.TB, entries ...map[string]any) []byte {
	tb.Helper()
	if entries == nil {
		entries = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"items": entries})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseRejects(t *testing.T) {
	a := catalogTestEntry("a", CategoryFeverReducer, "Motrin")
	b := catalogTestEntry("b", CategoryFeverReducer)
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"NotJSON", []byte("{"), []string{"unexpected EOF"}},
		{"TrailingData", append(catalogTestJSON(t, a), "{}"...), []string{"data after the catalog"}},
		{"UnknownField", catalogTestJSON(t, entryWith(a, "prescripton", true)), []string{`unknown field "prescripton"`}},
		{"NoItems", catalogTestJSON(t), []string{"no items"}},
		{"DuplicateCode", catalogTestJSON(t, a, b, entryWith(b, "name_zh", "别的")), []string{`items[2] "b": duplicate code (also items[1])`}},
		{"CodeUpperCase", catalogTestJSON(t, entryWith(a, "code", "Motrin")), []string{`items[0] "Motrin": code must be`}},
		{"CodeUnderscore", catalogTestJSON(t, entryWith(a, "code", "ibuprofen_tablet")), []string{"code must be"}},
		{"CodeSpace", catalogTestJSON(t, entryWith(a, "code", "ibuprofen tablet")), []string{"code must be"}},
		{"CodeEmpty", catalogTestJSON(t, entryWith(a, "code", "")), []string{"code must be"}},
		{"CodeTooLong", catalogTestJSON(t, entryWith(a, "code", strings.Repeat("x", 65))), []string{"code must be"}},
		{"UnknownCategory", catalogTestJSON(t, entryWith(a, "category", "medicine")), []string{`unknown category "medicine"`}},
		{"EmptyCategory", catalogTestJSON(t, entryWith(a, "category", nil)), []string{`unknown category ""`}},
		{"BadGroup", catalogTestJSON(t, entryWith(a, "group", "Formula")), []string{"group must be"}},
		{"EmptyNameZH", catalogTestJSON(t, entryWith(a, "name_zh", "　")), []string{"name_zh is empty"}},
		{"EmptyNameEN", catalogTestJSON(t, entryWith(a, "name_en", nil)), []string{"name_en is empty"}},
		{"NameTooLong", catalogTestJSON(t, entryWith(a, "name_en", strings.Repeat("x", 81))), []string{"name_en is longer than 80"}},
		{"EmptyUnit", catalogTestJSON(t, entryWith(a, "unit", "")), []string{"unit is empty"}},
		{"UnitTooLong", catalogTestJSON(t, entryWith(a, "unit_zh", strings.Repeat("盒", 17))), []string{"unit_zh is longer than 16"}},
		{"EmptySynonym", catalogTestJSON(t, entryWith(a, "synonyms", []string{"美林", " "})), []string{"empty synonym"}},
		{"MissingMedicineFlag", catalogTestJSON(t, entryWith(a, "medicine", nil)), []string{"medicine flag is missing"}},
		{"MissingPrescriptionFlag", catalogTestJSON(t, entryWith(a, "prescription", nil)), []string{"prescription flag is missing"}},
		{"PrescriptionNotMedicine", catalogTestJSON(t, entryWith(a, "medicine", false, "prescription", true)), []string{"prescription item must be a medicine"}},
		{"MinAgeNotChildSafe", catalogTestJSON(t, entryWith(a, "child_safe", false, "min_age_months", 6)), []string{"not child_safe"}},
		{"MinAgeNegative", catalogTestJSON(t, entryWith(a, "min_age_months", -1)), []string{"min_age_months must be 0–216"}},
		{"ConflictingSynonyms", catalogTestJSON(t, a, catalogTestEntry("c", CategoryColdMedicine, "ＭＯＴＲＩＮ")),
			[]string{`items[1] "c": name "motrin" is also claimed by items[0] "a" of category fever_reducer (this item: cold_medicine)`}},
		{"SynonymIsAnotherItemsName", catalogTestJSON(t, a, catalogTestEntry("c", CategoryMask, "name a")),
			[]string{`name "name a" is also claimed by items[0] "a"`}},
		{"SeveralProblems", catalogTestJSON(t, entryWith(a, "code", "A"), entryWith(b, "category", "x")),
			[]string{`items[0] "A": code must be`, `items[1] "b": unknown category "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse(%s) = %d items, nil error; want an error", tt.data, len(c.items))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse error %q does not wrap ErrInvalid", err)
			}
			if c != nil {
				t.Errorf("Parse returned a catalog with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	// Synonyms may be shared within a category (布洛芬 names every ibuprofen form).
	data := catalogTestJSON(t,
		catalogTestEntry("ibu-child", CategoryFeverReducer, "布洛芬", "美林"),
		entryWith(catalogTestEntry("ibu-adult", CategoryFeverReducer, "布洛芬", "ＩＢＵＰＲＯＦＥＮ", "ibuprofen"), "child_safe", false),
		entryWith(catalogTestEntry("formula", CategoryBaby), "medicine", false, "group", "formula", "min_age_months", 6),
	)
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := itemCodes(c.items), []string{"ibu-child", "ibu-adult", "formula"}; !slices.Equal(got, want) {
		t.Errorf("items = %v, want %v", got, want)
	}
	if got, want := itemCodes(c.Lookup("布洛芬")), []string{"ibu-child", "ibu-adult"}; !slices.Equal(got, want) {
		t.Errorf("Lookup(布洛芬) = %v, want %v", got, want)
	}
	if got, want := itemCodes(c.Lookup("Ibuprofen")), []string{"ibu-adult"}; !slices.Equal(got, want) {
		t.Errorf("Lookup(Ibuprofen) = %v, want %v", got, want)
	}
	f, _ := c.Item("formula")
	if f.Group != "formula" || f.MinAgeMonths != 6 || f.Medicine {
		t.Errorf("Item(formula) = %+v, want group formula, min age 6, not a medicine", f)
	}
}

func TestCatalogZeroValue(t *testing.T) {
	var c Catalog
	if _, ok := c.Item("antigen-test"); ok {
		t.Error("zero Catalog: Item found something")
	}
	if got := c.Lookup("抗原"); got != nil {
		t.Errorf("zero Catalog: Lookup = %v, want nil", itemCodes(got))
	}
	if got := c.items; len(got) != 0 {
		t.Errorf("zero Catalog: items = %v, want none", itemCodes(got))
	}
}

func TestFits(t *testing.T) {
	tests := []struct {
		name           string
		request, offer string
		childAgeMonths int
		wantOK         bool
		wantReason     string
	}{
		{"SameItem", "ibuprofen-suspension-child", "ibuprofen-suspension-child", 24, true, "same item"},
		{"ChildFeverFitsIbuprofenSuspension", "acetaminophen-suspension-child", "ibuprofen-suspension-child", 24, true, "same category: fever reducer"},
		{"ChildFeverFitsAcetaminophenDrops", "ibuprofen-suspension-child", "acetaminophen-drops-infant", 24, true, "same category: fever reducer"},
		{"ChildFeverNotAdultIbuprofenTablets", "ibuprofen-suspension-child", "ibuprofen-tablet", 24, false, "adult medicine is not for children"},
		{"ChildFeverNotFenbidCapsules", "acetaminophen-drops-infant", "ibuprofen-capsule-sr", 24, false, "adult medicine is not for children"},
		{"InfantTooYoungForIbuprofen", "acetaminophen-drops-infant", "ibuprofen-suspension-child", 4, false, "for children from 6 months"},
		{"InfantOldEnoughForAcetaminophenDrops", "ibuprofen-drops-infant", "acetaminophen-drops-infant", 4, true, "same category: fever reducer"},
		{"AdultFeverFitsAnyFeverReducer", "ibuprofen-tablet", "acetaminophen-tablet", 0, true, "same category: fever reducer"},
		{"AdultMayTakeChildForm", "ibuprofen-tablet", "ibuprofen-suspension-child", 0, true, "same category: fever reducer"},
		{"AntigenTestIsNotAThermometer", "thermometer-electronic", "antigen-test", 0, false, "different category: antigen test, not thermometer"},
		{"ThermometersSubstitute", "thermometer-electronic", "thermometer-forehead", 36, true, "same category: thermometer"},
		{"ChildNotMercuryThermometer", "thermometer-electronic", "thermometer-mercury", 36, false, "not suitable for children"},
		{"ChildMaskNotN95", "mask-child", "mask-n95", 60, false, "not suitable for children"},
		{"AdultMaskFitsN95", "mask-surgical", "mask-n95", 0, true, "same category: mask"},
		{"PrescriptionNeverOffered", "amoxicillin-capsule", "amoxicillin-capsule", 0, false, "prescription medicines cannot be offered"},
		{"PrescriptionOseltamivir", "lianhua-qingwen-capsule", "oseltamivir-capsule", 0, false, "prescription medicines cannot be offered"},
		{"FormulaIsNotDiapers", "diapers", "infant-formula-stage1", 3, false, "different items"},
		{"FormulaStageTooOld", "infant-formula-stage1", "infant-formula-stage2", 3, false, "for children from 6 months"},
		{"FormulaStageFits", "infant-formula-stage1", "infant-formula-stage2", 8, true, "same category: baby supplies"},
		{"OtherNeverFitsByCategory", "tissues", "trash-bags", 0, false, "different items"},
		{"FoodFitsFood", "rice", "noodles", 0, true, "same category: food"},
		{"WaterIsNotNoodles", "drinking-water", "noodles", 0, false, "different items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := Fits(mustCatalogItem(t, tt.request), mustCatalogItem(t, tt.offer), tt.childAgeMonths)
			if ok != tt.wantOK || reason != tt.wantReason {
				t.Errorf("Fits(%s, %s, %d) = %v, %q; want %v, %q",
					tt.request, tt.offer, tt.childAgeMonths, ok, reason, tt.wantOK, tt.wantReason)
			}
		})
	}
	t.Run("ZeroItems", func(t *testing.T) {
		if ok, reason := Fits(Item{}, Item{}, 0); ok || reason != "unknown item" {
			t.Errorf("Fits(Item{}, Item{}, 0) = %v, %q; want false, %q", ok, reason, "unknown item")
		}
	})
}

func TestCatalogCategoryDisplay(t *testing.T) {
	cats := categories()
	if got, want := len(cats), 12; got != want {
		t.Errorf("len(categories()) = %d, want %d", got, want)
	}
	for _, c := range cats {
		if !c.Valid() {
			t.Errorf("%q.Valid() = false", c)
		}
		if zh, en := c.DisplayZH(), c.DisplayEN(); zh == string(c) || en == "" || strings.Contains(en, "_") {
			t.Errorf("%q: DisplayZH %q, DisplayEN %q; want display names", c, zh, en)
		}
	}
	tests := []struct {
		c         Category
		wantZH    string
		wantEN    string
		wantValid bool
	}{
		{CategoryFeverReducer, "退烧药", "fever reducer", true},
		{CategoryAntigenTest, "抗原检测", "antigen test", true},
		{CategoryBaby, "母婴用品", "baby supplies", true},
		{"vitamins", "vitamins", "vitamins", false},
	}
	for _, tt := range tests {
		if got := tt.c.DisplayZH(); got != tt.wantZH {
			t.Errorf("%q.DisplayZH() = %q, want %q", tt.c, got, tt.wantZH)
		}
		if got := tt.c.DisplayEN(); got != tt.wantEN {
			t.Errorf("%q.DisplayEN() = %q, want %q", tt.c, got, tt.wantEN)
		}
		if got := tt.c.Valid(); got != tt.wantValid {
			t.Errorf("%q.Valid() = %v, want %v", tt.c, got, tt.wantValid)
		}
	}
}

// FuzzCatalogLookup: any query is answered without panicking, with no
// duplicates, and the same as its normalized form.
func FuzzCatalogLookup(f *testing.F) {
	for _, s := range []string{"美林", "ＭＯＴＲＩＮ", "美林　", "antigen test", "n95", "84消毒液", "黄桃罐头", "", "\xff\xfe", "ｶﾀｶﾅ", "children’s"} {
		f.Add(s)
	}
	c := Default()
	f.Fuzz(func(t *testing.T, q string) {
		got := itemCodes(c.Lookup(q))
		if n := normalizeItemName(q); n != normalizeItemName(n) {
			t.Errorf("normalizeItemName not idempotent: %q → %q → %q", q, n, normalizeItemName(n))
		} else if again := itemCodes(c.Lookup(n)); !slices.Equal(got, again) {
			t.Errorf("Lookup(%q) = %v, Lookup(normalized %q) = %v", q, got, n, again)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
			t.Errorf("Lookup(%q) = %v has duplicates", q, got)
		}
	})
}
