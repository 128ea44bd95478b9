package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Need is what a request may name instead of an item: a category (and
// group) with constraints, such as "children's fever reducer". Any catalog
// item of the category and group fits it (see FitsNeed), so a parent asking
// for a children's fever reducer is met by 美林 (ibuprofen suspension) or
// 泰诺林 (acetaminophen suspension), whichever a neighbour has.
//
// Every Need obtained from a Catalog satisfies what Parse checks: Code is
// 1–64 bytes of [a-z0-9-] and names no item; NameZH and NameEN are
// non-empty; Category is known and not CategoryOther; at least one item
// fits it; no name or synonym is claimed by two needs.
type Need struct {
	Code     string // stable identifier, e.g. "child-fever-reducer"; never renamed
	NameZH   string // e.g. "儿童退烧药"
	NameEN   string // e.g. "children's fever reducer"
	Synonyms []string
	Category Category
	Group    string
	// Child needs are met only by child-safe items.
	Child bool
	// ItemCodes are the codes of the items that fit the need (for a child
	// of any age, for a child's need), in file order.
	ItemCodes []string
}

type needEntry struct {
	Code     string   `json:"code"`
	NameZH   string   `json:"name_zh"`
	NameEN   string   `json:"name_en"`
	Category Category `json:"category"`
	Group    string   `json:"group"`
	Child    *bool    `json:"child"`
	Synonyms []string `json:"synonyms"`
}

// parseNeeds validates the needs of a catalog whose items are parsed, and
// indexes them, reporting each problem through fail (with the need's index
// in the file).
func (c *Catalog) parseNeeds(entries []needEntry, fail func(i int, code, format string, args ...any)) {
	c.needByCode = make(map[string]int, len(entries))
	c.needByName = make(map[string]int)
	for i, e := range entries {
		failf := func(format string, args ...any) { fail(i, e.Code, "need: "+format, args...) }
		ok := true
		bad := func(format string, args ...any) { ok = false; failf(format, args...) }
		if _, isItem := c.byCode[e.Code]; isItem {
			bad("code %q is also an item's code", e.Code)
		} else if !validCatalogIdent(e.Code) {
			bad("code must be 1–%d characters of a-z, 0-9 and -", catalogMaxCodeLen)
		}
		if _, dup := c.needByCode[e.Code]; dup {
			bad("duplicate need code")
		}
		if !e.Category.Valid() || e.Category == CategoryOther {
			bad("category %q: a need names a known category other than %q", e.Category, CategoryOther)
		}
		if e.Group != "" && !validCatalogIdent(e.Group) {
			bad("group must be 1–%d characters of a-z, 0-9 and -", catalogMaxCodeLen)
		}
		if e.Child == nil {
			bad("child flag is missing")
		}
		for _, s := range append([]string{e.NameZH, e.NameEN}, e.Synonyms...) {
			if normalizeItemName(s) == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > catalogMaxNameLen {
				bad("name or synonym %q must be 1–%d characters", s, catalogMaxNameLen)
			}
		}
		if !ok {
			continue
		}
		n := Need{Code: e.Code, NameZH: e.NameZH, NameEN: e.NameEN, Synonyms: slices.Clone(e.Synonyms),
			Category: e.Category, Group: e.Group, Child: *e.Child}
		for _, it := range c.items {
			if fits, _ := FitsNeed(n, it, 0); fits {
				n.ItemCodes = append(n.ItemCodes, it.Code)
			}
		}
		if len(n.ItemCodes) == 0 {
			failf("no item fits it")
			continue
		}
		idx := len(c.needs)
		c.needs = append(c.needs, n)
		c.needByCode[n.Code] = idx
		for _, s := range append([]string{n.Code, n.NameZH, n.NameEN}, n.Synonyms...) {
			k := normalizeItemName(s)
			if j, taken := c.needByName[k]; taken && j != idx {
				failf("name %q is also claimed by need %q", s, c.needs[j].Code)
				continue
			}
			c.needByName[k] = idx
		}
	}
}

// Need returns the need with exactly this code. Its slices are the
// catalog's own: the caller must not modify them.
func (c *Catalog) Need(code string) (Need, bool) {
	i, ok := c.needByCode[code]
	if !ok {
		return Need{}, false
	}
	return c.needs[i], true
}

// LookupNeed finds a need by its code, its Chinese or English name or a
// synonym, compared as Lookup compares item names (case, full-width forms
// and white space ignored): "儿童退烧药", "Children’s fever reducer" and
// "child-fever-reducer" all find the children's fever reducer. Only whole
// names match.
func (c *Catalog) LookupNeed(name string) (Need, bool) {
	i, ok := c.needByName[normalizeItemName(name)]
	if !ok {
		return Need{}, false
	}
	return c.needs[i], true
}

// Needs returns every need, in file order (copies).
func (c *Catalog) Needs() []Need {
	out := make([]Need, len(c.needs))
	for i, n := range c.needs {
		n.Synonyms, n.ItemCodes = slices.Clone(n.Synonyms), slices.Clone(n.ItemCodes)
		out[i] = n
	}
	return out
}

// Items returns every item, in file order (copies).
func (c *Catalog) Items() []Item {
	out := make([]Item, len(c.items))
	for i, it := range c.items {
		out[i] = it.clone()
	}
	return out
}

// Version identifies the catalog's content: it changes whenever the
// catalog does (16 hex digits of the SHA-256 of the file it was parsed
// from; empty for the zero Catalog).
func (c *Catalog) Version() string { return c.version }

func versionOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:8])
}

// FitsNeed reports whether an offered item meets need, with a short English
// reason to show beside a match suggestion. childAgeMonths > 0 means the
// request is for a child of that age (pass 1 for a baby under a month); 0
// means no age is known.
//
//   - A prescription offer never fits: "prescription medicines cannot be offered".
//   - Another category or group does not fit: "different category: …", "different items".
//   - For a child's need, or any need of a request for a child, the offer
//     must be child-safe ("adult medicine is not for children", "not
//     suitable for children") and, with an age, not for older children
//     ("for children from 6 months").
//   - Otherwise it fits, with the need's English name as the reason:
//     "children's fever reducer".
func FitsNeed(need Need, offer Item, childAgeMonths int) (ok bool, reason string) {
	switch {
	case offer.Prescription:
		return false, "prescription medicines cannot be offered"
	case !need.Category.Valid() || !offer.Category.Valid():
		return false, "unknown item"
	case need.Category != offer.Category:
		return false, fmt.Sprintf("different category: %s, not %s", offer.Category.DisplayEN(), need.Category.DisplayEN())
	case need.Group != offer.Group:
		return false, "different items"
	}
	if need.Child || childAgeMonths > 0 {
		switch {
		case !offer.ChildSafe && offer.Medicine:
			return false, "adult medicine is not for children"
		case !offer.ChildSafe:
			return false, "not suitable for children"
		case childAgeMonths > 0 && offer.MinAgeMonths > childAgeMonths:
			return false, fmt.Sprintf("for children from %d months", offer.MinAgeMonths)
		}
	}
	return true, need.NameEN
}
