package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// catalogJSON is the item catalog shipped with the binary. Its format is
// documented on catalogFile; TestCatalogEmbedded proves it parses.
//
//go:embed catalog.json
var catalogJSON []byte

// Category is the kind of an item, the unit of substitution when matching
// (see Fits) and what a hotline case's service code is derived from. The
// values are stored in the catalog file and may be persisted by others:
// never rename one.
type Category string

// The categories, in display order.
const (
	CategoryFeverReducer Category = "fever_reducer"
	CategoryAntigenTest  Category = "antigen_test"
	CategoryThermometer  Category = "thermometer"
	CategoryOximeter     Category = "oximeter"
	CategoryColdMedicine Category = "cold_medicine"
	CategoryElectrolyte  Category = "electrolyte"
	CategoryDisinfectant Category = "disinfectant"
	CategoryMask         Category = "mask"
	CategoryGloves       Category = "gloves"
	CategoryBaby         Category = "baby"
	CategoryFood         Category = "food"
	CategoryOther        Category = "other"
)

var categoryDisplay = []struct {
	c      Category
	zh, en string
}{
	{CategoryFeverReducer, "退烧药", "fever reducer"},
	{CategoryAntigenTest, "抗原检测", "antigen test"},
	{CategoryThermometer, "体温计", "thermometer"},
	{CategoryOximeter, "血氧仪", "pulse oximeter"},
	{CategoryColdMedicine, "感冒止咳药", "cough and cold medicine"},
	{CategoryElectrolyte, "电解质补充", "electrolytes"},
	{CategoryDisinfectant, "消毒用品", "disinfectant"},
	{CategoryMask, "口罩", "mask"},
	{CategoryGloves, "手套", "gloves"},
	{CategoryBaby, "母婴用品", "baby supplies"},
	{CategoryFood, "食品", "food"},
	{CategoryOther, "其他", "other"},
}

// Valid reports whether c is one of the known categories.
func (c Category) Valid() bool {
	for _, d := range categoryDisplay {
		if d.c == c {
			return true
		}
	}
	return false
}

// DisplayZH returns c's Chinese display name (e.g. "退烧药"), or c itself if
// c is not a known category.
func (c Category) DisplayZH() string {
	for _, d := range categoryDisplay {
		if d.c == c {
			return d.zh
		}
	}
	return string(c)
}

// DisplayEN returns c's English display name, lower case (e.g. "fever
// reducer"), or c itself if c is not a known category.
func (c Category) DisplayEN() string {
	for _, d := range categoryDisplay {
		if d.c == c {
			return d.en
		}
	}
	return string(c)
}

// Item is one entry of the catalog: something neighbours offer or request.
//
// Every Item obtained from a Catalog satisfies what Parse checks:
// Code is 1–64 bytes of [a-z0-9-]; NameZH, NameEN, Unit and UnitZH are
// non-empty; Category is known; Prescription implies Medicine; MinAgeMonths
// is 0 unless ChildSafe.
type Item struct {
	Code     string   // stable identifier, e.g. "ibuprofen-suspension-child"; never renamed
	NameZH   string   // Chinese display name, e.g. "布洛芬混悬液（儿童）"
	NameEN   string   // English display name, e.g. "Children's ibuprofen suspension"
	Synonyms []string // brand and generic names in either language, e.g. "美林", "Motrin", "ibuprofen"
	Category Category

	// Medicine items need an unexpired expiry date when offered.
	Medicine bool
	// ChildSafe items are fit to give for a child (suspensions, drops,
	// children's masks; household supplies). Adult tablets are not.
	ChildSafe bool
	// Prescription medicines cannot be offered to neighbours.
	Prescription bool

	Unit   string // default unit in English: "bottle", "box", "kit", "piece", "pack", …
	UnitZH string // the same unit in Chinese: "瓶", "盒", "人份", …

	// MinAgeMonths is the youngest age, in months, a ChildSafe item is fit
	// for; 0 means no lower limit.
	MinAgeMonths int

	// Group narrows substitution inside a category: two items with
	// different groups (infant formula and diapers, both CategoryBaby) do
	// not stand in for each other. Empty for most items.
	Group string
}

// clone returns a copy of it that shares no memory with the catalog.
func (it Item) clone() Item {
	it.Synonyms = slices.Clone(it.Synonyms)
	return it
}

// Catalog is an immutable, validated set of items with a name index. It is
// safe for concurrent use. Lookup returns copies, which callers may modify;
// Item shares the item's Synonyms with the catalog. The zero Catalog is
// empty and usable.
type Catalog struct {
	items  []Item
	keys   [][]string       // per item: its normalized code, names and synonyms, deduplicated
	byCode map[string]int   // code → index into items
	exact  map[string][]int // normalized name → indexes into items, ascending

	needs      []Need
	needByCode map[string]int // code → index into needs
	needByName map[string]int // normalized code, name or synonym → index into needs

	version string
}

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("catalog: invalid catalog")

// Catalog limits. Names fit a post item's name (80 characters), units a
// post item's unit (16).
const (
	catalogMaxCodeLen   = 64
	catalogMaxNameLen   = 80
	catalogMaxUnitLen   = 16
	catalogMaxAgeMonths = 216
	catalogMaxProblems  = 20 // Parse reports at most this many
)

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) { return Parse(catalogJSON) })

// Default returns the catalog embedded in the binary, parsed and
// validated once. It never panics: were the embedded file invalid (which
// TestCatalogEmbedded rules out before a release), it would return an empty
// catalog, in which every lookup fails.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		return &Catalog{}
	}
	return c
}

// catalogFile is the on-disk format of the catalog:
//
//	{"items": [{"code": "…", "name_zh": "…", "name_en": "…", "category": "…",
//	            "unit": "…", "unit_zh": "…", "medicine": bool, "child_safe": bool,
//	            "prescription": bool, "min_age_months": n, "group": "…",
//	            "synonyms": ["…", …]}, …],
//	 "needs": [{"code": "…", "name_zh": "…", "name_en": "…", "category": "…",
//	            "group": "…", "child": bool, "synonyms": ["…", …]}, …]}
//
// medicine, child_safe, prescription and child are required, so that a
// forgotten flag is an error rather than a silent false; min_age_months,
// group and synonyms are optional, and so are needs. Unknown fields are
// errors.
type catalogFile struct {
	Items []catalogEntry `json:"items"`
	Needs []needEntry    `json:"needs"`
}

type catalogEntry struct {
	Code         string   `json:"code"`
	NameZH       string   `json:"name_zh"`
	NameEN       string   `json:"name_en"`
	Category     Category `json:"category"`
	Group        string   `json:"group"`
	Unit         string   `json:"unit"`
	UnitZH       string   `json:"unit_zh"`
	Medicine     *bool    `json:"medicine"`
	ChildSafe    *bool    `json:"child_safe"`
	Prescription *bool    `json:"prescription"`
	MinAgeMonths int      `json:"min_age_months"`
	Synonyms     []string `json:"synonyms"`
}

// Parse decodes and validates a catalog file (format on catalogFile:
// a JSON object with an "items" array and an optional "needs" array; see
// Need for what a need must be). It checks that there is at least
// one item; that codes are unique and 1–64 of [a-z0-9-]; that every
// category is known; that names, units and synonyms are non-empty and short
// (names and synonyms ≤ 80 characters, units ≤ 16); that the medicine,
// child_safe and prescription flags are present, prescription implies
// medicine, and min_age_months is 0–216 and only set on child-safe items;
// and that no name or synonym (compared as Lookup compares them) is claimed
// by two items of different categories, naming both.
//
// It returns the catalog, or an error wrapping ErrInvalid that lists
// up to 20 problems, each naming the item ("items[3] \"code\": …").
func Parse(data []byte) (*Catalog, error) {
	var f catalogFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the catalog object", ErrInvalid)
	}
	if len(f.Items) == 0 {
		return nil, fmt.Errorf("%w: no items", ErrInvalid)
	}

	c := &Catalog{
		items:  make([]Item, 0, len(f.Items)),
		keys:   make([][]string, 0, len(f.Items)),
		byCode: make(map[string]int, len(f.Items)),
		exact:  make(map[string][]int),
	}
	var problems []string
	fail := func(i int, code, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("items[%d] %q: %s", i, code, fmt.Sprintf(format, args...)))
	}
	for i, e := range f.Items {
		it, ok := e.validate(func(format string, args ...any) { fail(i, e.Code, format, args...) })
		if !ok {
			// Keep indexes aligned with the file; the catalog is discarded.
			it = Item{Code: e.Code, Category: e.Category}
		}
		if j, dup := c.byCode[e.Code]; dup && e.Code != "" {
			fail(i, e.Code, "duplicate code (also items[%d])", j)
		} else {
			c.byCode[e.Code] = i
		}
		c.items = append(c.items, it)
		c.keys = append(c.keys, catalogKeys(it))
	}

	// Every key may be claimed by items of one category only.
	owner := make(map[string]int) // key → first item claiming it
	for i, keys := range c.keys {
		for _, k := range keys {
			j, seen := owner[k]
			if !seen {
				owner[k] = i
				c.exact[k] = append(c.exact[k], i)
				continue
			}
			if c.items[j].Category != c.items[i].Category {
				fail(i, c.items[i].Code, "name %q is also claimed by items[%d] %q of category %s (this item: %s)",
					k, j, c.items[j].Code, c.items[j].Category, c.items[i].Category)
				continue
			}
			c.exact[k] = append(c.exact[k], i)
		}
	}

	needFail := func(i int, code, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("needs[%d] %q: %s", i, code, fmt.Sprintf(format, args...)))
	}
	c.parseNeeds(f.Needs, needFail)
	c.version = versionOf(data)

	if len(problems) > 0 {
		n := len(problems)
		if n > catalogMaxProblems {
			problems = append(problems[:catalogMaxProblems], fmt.Sprintf("and %d more", n-catalogMaxProblems))
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return c, nil
}

// validate checks one entry on its own and converts it to an Item,
// reporting each problem through fail.
func (e catalogEntry) validate(fail func(format string, args ...any)) (Item, bool) {
	bad := false
	failf := func(format string, args ...any) { bad = true; fail(format, args...) }

	if !validCatalogIdent(e.Code) {
		failf("code must be 1–%d characters of a-z, 0-9 and -", catalogMaxCodeLen)
	}
	if !e.Category.Valid() {
		failf("unknown category %q", e.Category)
	}
	if e.Group != "" && !validCatalogIdent(e.Group) {
		failf("group must be 1–%d characters of a-z, 0-9 and -", catalogMaxCodeLen)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"name_zh", e.NameZH, catalogMaxNameLen},
		{"name_en", e.NameEN, catalogMaxNameLen},
		{"unit", e.Unit, catalogMaxUnitLen},
		{"unit_zh", e.UnitZH, catalogMaxUnitLen},
	} {
		switch {
		case normalizeItemName(f.value) == "":
			failf("%s is empty", f.name)
		case !utf8.ValidString(f.value) || utf8.RuneCountInString(f.value) > f.max:
			failf("%s is longer than %d characters", f.name, f.max)
		}
	}
	for _, s := range e.Synonyms {
		switch {
		case normalizeItemName(s) == "":
			failf("empty synonym")
		case !utf8.ValidString(s) || utf8.RuneCountInString(s) > catalogMaxNameLen:
			failf("synonym %q is longer than %d characters", s, catalogMaxNameLen)
		}
	}
	for _, f := range []struct {
		name string
		v    *bool
	}{{"medicine", e.Medicine}, {"child_safe", e.ChildSafe}, {"prescription", e.Prescription}} {
		if f.v == nil {
			failf("%s flag is missing", f.name)
		}
	}
	if bad {
		return Item{}, false
	}
	it := Item{
		Code: e.Code, NameZH: e.NameZH, NameEN: e.NameEN, Synonyms: slices.Clone(e.Synonyms),
		Category: e.Category, Group: e.Group,
		Medicine: *e.Medicine, ChildSafe: *e.ChildSafe, Prescription: *e.Prescription,
		Unit: e.Unit, UnitZH: e.UnitZH, MinAgeMonths: e.MinAgeMonths,
	}
	if it.Prescription && !it.Medicine {
		failf("prescription item must be a medicine")
	}
	switch {
	case it.MinAgeMonths < 0 || it.MinAgeMonths > catalogMaxAgeMonths:
		failf("min_age_months must be 0–%d", catalogMaxAgeMonths)
	case it.MinAgeMonths > 0 && !it.ChildSafe:
		failf("min_age_months is set but the item is not child_safe")
	}
	return it, !bad
}

// validCatalogIdent reports whether s is 1–64 bytes of [a-z0-9-].
func validCatalogIdent(s string) bool {
	if s == "" || len(s) > catalogMaxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// catalogKeys returns the normalized code, names and synonyms of it, without
// duplicates or empty strings, in that order.
func catalogKeys(it Item) []string {
	var keys []string
	for _, s := range append([]string{it.Code, it.NameZH, it.NameEN}, it.Synonyms...) {
		if k := normalizeItemName(s); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// catalogQuoteFolder folds typographic apostrophes, which phone keyboards insert,
// to the ASCII one ("children’s" matches "children's").
var catalogQuoteFolder = strings.NewReplacer("\u2019", "'", "\u2018", "'", "\uff07", "'")

// normalizeItemName is how names are compared: full-width forms folded to
// half-width (ＭＯＴＲＩＮ → MOTRIN, U+3000 → space), lower case, typographic
// apostrophes folded, runs of white space collapsed to one space, trimmed.
func normalizeItemName(s string) string {
	s = width.Fold.String(s)
	s = strings.ToLower(s)
	s = catalogQuoteFolder.Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// Item returns the item with exactly this code. Its Synonyms slice is the
// catalog's own: the caller must not modify it. (It is called on every post
// write, by validation and matching, and copies nothing.)
func (c *Catalog) Item(code string) (Item, bool) {
	i, ok := c.byCode[code]
	if !ok {
		return Item{}, false
	}
	return c.items[i], true
}

// Lookup finds items by name: code, Chinese or English name, or any
// synonym, brand or generic. The comparison ignores case, full-width versus
// half-width forms (ＩＢＵＰＲＯＦＥＮ, "美林　") and surrounding or repeated
// white space. Items with a name equal to the query come first, in file
// order; then, if the query has at least 2 characters, items with a name
// containing it, in file order. Each item appears once. An empty or
// unknown query returns nil.
func (c *Catalog) Lookup(name string) []Item {
	q := normalizeItemName(name)
	if q == "" {
		return nil
	}
	hits := slices.Clone(c.exact[q])
	if utf8.RuneCountInString(q) >= 2 {
		for i, keys := range c.keys {
			if slices.Contains(hits, i) {
				continue
			}
			if slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, q) }) {
				hits = append(hits, i)
			}
		}
	}
	if len(hits) == 0 {
		return nil
	}
	out := make([]Item, len(hits))
	for n, i := range hits {
		out[n] = c.items[i].clone()
	}
	return out
}

// Fits reports whether an offered item satisfies a requested one, with a
// short English reason to show beside a match suggestion.
// childAgeMonths > 0 means the request is for a child of that age (pass 1
// for a baby under a month); 0 means an adult.
//
//   - A prescription offer never fits: "prescription medicines cannot be offered".
//   - The same code fits: "same item".
//   - Different categories do not fit: "different category: antigen test, not thermometer".
//   - In CategoryOther, or across groups within a category (formula and
//     diapers), only the same item fits: "different items".
//   - Otherwise the offer fits by category ("same category: fever reducer")
//     unless the request is for a child and the offer is not child-safe
//     ("adult medicine is not for children", "not suitable for children")
//     or is for older children ("for children from 6 months").
func Fits(request, offer Item, childAgeMonths int) (ok bool, reason string) {
	switch {
	case offer.Prescription:
		return false, "prescription medicines cannot be offered"
	case request.Code != "" && request.Code == offer.Code:
		return true, "same item"
	case !request.Category.Valid() || !offer.Category.Valid():
		return false, "unknown item"
	case request.Category != offer.Category:
		return false, fmt.Sprintf("different category: %s, not %s", offer.Category.DisplayEN(), request.Category.DisplayEN())
	case request.Category == CategoryOther || request.Group != offer.Group:
		return false, "different items"
	}
	if childAgeMonths > 0 {
		switch {
		case !offer.ChildSafe && offer.Medicine:
			return false, "adult medicine is not for children"
		case !offer.ChildSafe:
			return false, "not suitable for children"
		case offer.MinAgeMonths > childAgeMonths:
			return false, fmt.Sprintf("for children from %d months", offer.MinAgeMonths)
		}
	}
	return true, "same category: " + offer.Category.DisplayEN()
}
