package mutualaid

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid/catalog"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// catalogView is the embedded catalog as the API shows it, built once.
var catalogView = sync.OnceValue(func() *linliv1.GetCatalogResponse {
	c := catalog.Default()
	out := &linliv1.GetCatalogResponse{Version: c.Version()}
	for _, it := range c.Items() {
		out.Items = append(out.Items, &linliv1.CatalogItem{
			Code: it.Code, NameZh: it.NameZH, NameEn: it.NameEN, Synonyms: it.Synonyms,
			Category: string(it.Category), Group: it.Group, Medicine: it.Medicine, ChildSafe: it.ChildSafe,
			Prescription: it.Prescription, MinAgeMonths: uint32(it.MinAgeMonths), Unit: it.Unit, UnitZh: it.UnitZH,
		})
	}
	for _, n := range c.Needs() {
		out.Needs = append(out.Needs, &linliv1.CatalogNeed{
			Code: n.Code, NameZh: n.NameZH, NameEn: n.NameEN, Synonyms: n.Synonyms,
			Category: string(n.Category), Group: n.Group, Child: n.Child, ItemCodes: n.ItemCodes,
		})
	}
	return out
})

// Catalog returns the item catalog posts are checked against: the items
// an app offers as choices, and the needs a request may name instead of an
// item (each with the items that fit it), with a version that changes
// whenever the catalog does. The caller may modify the copy it gets.
func (s *Service) Catalog() *linliv1.GetCatalogResponse { return proto.CloneOf(catalogView()) }
