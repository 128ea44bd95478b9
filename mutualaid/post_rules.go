package mutualaid

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/linli/linli/mutualaid/catalog"
	"github.com/linli/linli/mutualaid/triage"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Limits on whom a post is for and on whose behalf it is made.
const (
	maxAgeMonths    = 216 // 18 years
	maxConsentNote  = 200
	reasonEmergency = "emergency_call_120"
	dateLayout      = time.DateOnly
)

// checkPostRules applies the rules that need the catalog, the clock or the
// member: known items, medicines with an unexpired expiry date, no
// prescription drugs offered, and on-behalf posts only by staff or the
// building's volunteers. (An edit of an offer gets the offer rules when it
// is applied, once the post is known to be an offer: see offerRules.) It
// returns nil or an *Error (Invalid or Forbidden) with Field relative to
// the Mutation.
func checkPostRules(member Member, m *linliv1.Mutation, now time.Time) error {
	at, d, offer := draftOf(m)
	if d == nil {
		return nil
	}
	var v validator
	v.catalogItems(at, d, offer, now)
	if err := v.result(); err != nil {
		return err
	}
	return mayPostOnBehalf(member, at, d)
}

// offerRules are the catalog rules of an offer's items (no prescription
// drugs; medicines with an unexpired expiry date), as a rejection.
func offerRules(d *linliv1.PostDraft, now time.Time) error {
	var v validator
	v.catalogItems("edit_post.draft", d, true, now)
	if e, ok := errors.AsType[*Error](v.result()); ok {
		return linlisync.Reject(e.Reason, e.Message)
	}
	return nil
}

// catalogItems checks every item of d against the catalog.
func (v *validator) catalogItems(at string, d *linliv1.PostDraft, offer bool, now time.Time) {
	for i, it := range d.GetItems() {
		v.catalogItem(fmt.Sprintf("%s.items[%d]", at, i), it, offer, now)
	}
}

// draftOf returns a post mutation's draft, its field path and whether it
// offers (edits count as offers for the stricter checks when unknown).
func draftOf(m *linliv1.Mutation) (string, *linliv1.PostDraft, bool) {
	switch k := m.GetKind().(type) {
	case *linliv1.Mutation_PostOffer:
		return "post_offer.draft", k.PostOffer.GetDraft(), true
	case *linliv1.Mutation_PostRequest:
		return "post_request.draft", k.PostRequest.GetDraft(), false
	case *linliv1.Mutation_EditPost:
		return "edit_post.draft", k.EditPost.GetDraft(), false
	}
	return "", nil, false
}

// catalogItem checks an item against the catalog: known code, medicines
// with an expiry date that has not passed, prescription drugs never
// offered; a need, named by its code or one of its names, only on requests
// and known to the catalog.
func (v *validator) catalogItem(at string, it *linliv1.PostItem, offer bool, now time.Time) {
	if it.GetNeed() != "" {
		if offer {
			v.fail(at+".need", "need_not_offerable", "An offer names the item it gives, not a need.")
		} else if _, ok := catalog.Default().LookupNeed(it.GetNeed()); !ok {
			v.fail(at+".need", "need_unknown", "This need is not in the catalog; pick it from the list.")
		}
		return
	}
	item, ok := catalog.Default().Item(it.GetItemCode())
	if !ok {
		v.fail(at+".item_code", "item_unknown", "This item is not in the catalog; pick it from the list.")
		return
	}
	if offer && item.Prescription {
		v.fail(at+".item_code", "prescription_not_offerable", "Prescription medicines cannot be offered to neighbours; ask a doctor or pharmacy.")
	}
	if !item.Medicine || !offer {
		return
	}
	if it.GetExpiryDate() == "" {
		v.fail(at+".expiry_date", "expiry_required", "Medicines need their expiry date.")
		return
	}
	exp, err := time.ParseInLocation(dateLayout, it.GetExpiryDate(), now.Location())
	if err == nil && !exp.AddDate(0, 0, 1).After(now) {
		v.fail(at+".expiry_date", "item_expired", "This medicine has expired and cannot be offered.")
	}
}

func (v *validator) forWhom(at string, f *linliv1.ForWhom) {
	if f == nil {
		return
	}
	if _, ok := linliv1.Recipient_name[int32(f.GetRecipient())]; !ok {
		v.fail(at+".recipient", "recipient_invalid", "Choose whom this is for.")
	}
	child := f.GetRecipient() == linliv1.Recipient_RECIPIENT_CHILD || f.GetRecipient() == linliv1.Recipient_RECIPIENT_INFANT
	if child && (f.GetAgeMonths() < 1 || f.GetAgeMonths() > maxAgeMonths) {
		v.fail(at+".age_months", "age_out_of_range", "Give the child's age in months (1 to 216).")
	}
}

func (v *validator) onBehalf(at string, o *linliv1.OnBehalf) {
	if o == nil {
		return
	}
	v.displayName(at+".resident_name", o.GetResidentName())
	v.text(at+".consent_note", "consent_note", o.GetConsentNote(), maxConsentNote, false)
	if !o.GetConsent() {
		v.fail(at+".consent", "consent_required", "Post for a resident only with their consent.")
	}
}

// mayPostOnBehalf: staff anywhere in their community, volunteers for their
// buildings, nobody else.
func mayPostOnBehalf(member Member, at string, d *linliv1.PostDraft) error {
	if d.GetOnBehalf() == nil || member.IsStaff() {
		return nil
	}
	if member.Role == RoleVolunteer && slices.Contains(member.Buildings, d.GetBuildingId()) {
		return nil
	}
	e := Errorf(Forbidden, ReasonNotOnBehalf, "Only staff, or volunteers of this building, may post for another resident.")
	e.Field = at + ".on_behalf"
	return e
}

// assessDraft triages a draft's text for emergency signs. It runs when the
// mutation is built, outside the single writer: the verdict depends only on
// the draft.
func assessDraft(d *linliv1.PostDraft) triage.Verdict {
	texts := []string{d.GetNote()}
	for _, it := range d.GetItems() {
		texts = append(texts, it.GetName())
	}
	return triage.Assess(ageMonths(d.GetForWhom()), texts...)
}

// applyTriage records the verdict on the post. An emergency makes the post
// critical, records the verdict (staff see it at once in their scope),
// tells the author to call 120 in the push result and, when the post was
// no emergency before, alerts the building's volunteers and the staff on
// their phones.
//
// REQUIRES: p's community and building are set.
func applyTriage(tx *linlisync.Tx, p *linliv1.Post, t triage.Verdict) error {
	if !t.Emergency {
		p.Triage = nil
		return nil
	}
	was := p.GetTriage().GetEmergency()
	p.Urgency = linliv1.Urgency_URGENCY_CRITICAL
	p.Triage = &linliv1.TriageVerdict{Emergency: true, Signs: t.Signs, AdviceZh: t.AdviceZH, AdviceEn: t.AdviceEN}
	tx.Notify(reasonEmergency, t.AdviceZH+"\n"+t.AdviceEN)
	if was {
		return nil
	}
	return notifyEmergency(tx, p)
}

// resolveNeeds replaces every need of d, named by its code or one of its
// names in Chinese or English, by its code in the catalog. A need the
// catalog does not know is left as it is (checkPostRules has refused it).
func resolveNeeds(d *linliv1.PostDraft) {
	for _, it := range d.GetItems() {
		if it.GetNeed() == "" {
			continue
		}
		if n, ok := catalog.Default().LookupNeed(it.GetNeed()); ok {
			it.Need = n.Code
		}
	}
}

// ageMonths is the age of a child or infant recipient, 0 otherwise.
func ageMonths(f *linliv1.ForWhom) int {
	switch f.GetRecipient() {
	case linliv1.Recipient_RECIPIENT_CHILD, linliv1.Recipient_RECIPIENT_INFANT:
		return int(f.GetAgeMonths())
	}
	return 0
}
