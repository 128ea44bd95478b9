package mutualaid

import (
	"fmt"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// MaxMutationsPerPush bounds the mutations of one PushRequest.
const MaxMutationsPerPush = 500

// Limits on a post's fields. Lengths of free text are counted in runes.
const (
	maxIDLen          = 64   // post_id, building_id, item_code (ASCII)
	minItems          = 1    // per draft
	maxItems          = 20   // per draft
	maxItemNameLen    = 80   // item name
	minQuantity       = 1    // per item
	maxQuantity       = 1000 // per item
	maxUnitLen        = 16   // item unit, draft unit (flat number)
	maxNoteLen        = 1000 // draft note
	minFloor          = -5   // basements
	maxFloor          = 200  // towers
	maxPhoneLen       = 20   // digits, spaces, '+', '-'
	maxDisplayNameLen = 40   // author's display name
	maxCancelReason   = 200  // cancel_post.reason
)

// ValidateMutation checks a client's mutation before anything is queued.
// It returns nil or an *Error with Code Invalid, the first problem found,
// whose Field is the path of the offending field within m (e.g.
// "post_offer.draft.items[2].quantity") and whose Reason is one of:
//
//	unknown_mutation_kind                          no kind set, or one this server does not know
//	post_id_required, _too_long, _invalid          1–64 of [A-Za-z0-9_-]
//	draft_required                                 offers, requests and edits carry a draft
//	items_required, too_many_items                 1–20 items
//	item_code_required, _too_long, _invalid        1–64 of [a-z0-9-], unless the item names a need
//	need_too_long, need_invalid                    a need's code or name ≤ 80 characters
//	need_with_item_code                            an item names an item code or a need, not both
//	name_too_long, name_invalid                    item name ≤ 80 characters
//	quantity_out_of_range                          1–1000
//	unit_too_long, unit_invalid                    item or flat unit ≤ 16 characters
//	expiry_date_invalid                            empty or a real YYYY-MM-DD date
//	urgency_required                               requests state their urgency
//	urgency_invalid                                not a defined urgency
//	pre_agreed_invalid                             not a defined pre-agreement
//	note_too_long, note_invalid                    ≤ 1000 characters; newlines allowed
//	building_id_required, _too_long, _invalid      1–64 of [A-Za-z0-9_-]
//	floor_out_of_range                             −5–200
//	phone_too_long, phone_invalid                  ≤ 20 of digits, spaces, '+', '-'
//	display_name_required, _too_long, _invalid     1–40 characters, not only spaces
//	cancel_reason_too_long, cancel_reason_invalid  ≤ 200 characters
//	recipient_invalid, age_out_of_range            for_whom: a defined recipient; a child's age 1–216 months
//	consent_required, consent_note_too_long        on_behalf: the resident's consent; a note ≤ 200 characters
//	display_name_* (on_behalf.resident_name)       the resident's name, as a display name
//	satisfaction_required                          rate_case names a satisfaction
//	comment_too_long, comment_invalid              rate_case comment ≤ 500 characters
//
// A "_invalid" text is not valid UTF-8 or holds a control character (only
// notes may hold '\n'). Offers and edits may leave urgency unspecified.
func ValidateMutation(m *linliv1.Mutation) error {
	var v validator
	switch k := m.GetKind().(type) {
	case *linliv1.Mutation_PostOffer:
		v.post("post_offer", k.PostOffer.GetPostId(), k.PostOffer.GetDraft(), false)
	case *linliv1.Mutation_PostRequest:
		v.post("post_request", k.PostRequest.GetPostId(), k.PostRequest.GetDraft(), true)
	case *linliv1.Mutation_EditPost:
		v.post("edit_post", k.EditPost.GetPostId(), k.EditPost.GetDraft(), false)
	case *linliv1.Mutation_CancelPost:
		v.ident("cancel_post.post_id", "post_id", k.CancelPost.GetPostId(), isIDByte)
		v.text("cancel_post.reason", "cancel_reason", k.CancelPost.GetReason(), maxCancelReason, false)
	case *linliv1.Mutation_RateCase:
		v.rateCase(k.RateCase)
	default:
		v.fail("kind", "unknown_mutation_kind", "This change is not supported by the server; update the app.")
	}
	return v.result()
}

// post checks a post id and its draft; at is the oneof field's name.
func (v *validator) post(at, postID string, d *linliv1.PostDraft, request bool) {
	v.ident(at+".post_id", "post_id", postID, isIDByte)
	if d == nil {
		v.fail(at+".draft", "draft_required", "The post has no content.")
		return
	}
	v.draft(at+".draft", d, request)
}

func (v *validator) draft(at string, d *linliv1.PostDraft, request bool) {
	v.items(at+".items", d.GetItems())
	v.urgency(at+".urgency", d.GetUrgency(), request)
	v.text(at+".note", "note", d.GetNote(), maxNoteLen, true)
	v.ident(at+".building_id", "building_id", d.GetBuildingId(), isIDByte)
	v.intRange(at+".floor", "floor", d.GetFloor(), minFloor, maxFloor)
	v.text(at+".unit", "unit", d.GetUnit(), maxUnitLen, false)
	v.phone(at+".phone", d.GetPhone())
	v.displayName(at+".display_name", d.GetDisplayName())
	v.forWhom(at+".for_whom", d.GetForWhom())
	v.onBehalf(at+".on_behalf", d.GetOnBehalf())
	if _, defined := linliv1.PreAgreement_name[int32(d.GetPreAgreed())]; !defined {
		v.fail(at+".pre_agreed", "pre_agreed_invalid", "Choose who may take this offer without asking.")
	}
}

func (v *validator) items(at string, items []*linliv1.PostItem) {
	switch {
	case len(items) < minItems:
		v.fail(at, "items_required", "Add at least one item.")
	case len(items) > maxItems:
		v.fail(at, "too_many_items", fmt.Sprintf("A post holds at most %d items.", maxItems))
	}
	for i, it := range items {
		v.item(fmt.Sprintf("%s[%d]", at, i), it)
	}
}

func (v *validator) item(at string, it *linliv1.PostItem) {
	switch {
	case it.GetNeed() == "":
		v.ident(at+".item_code", "item_code", it.GetItemCode(), isItemCodeByte)
	case it.GetItemCode() != "":
		v.fail(at+".need", "need_with_item_code", "Name either an item or a need, not both.")
	default:
		v.text(at+".need", "need", it.GetNeed(), maxItemNameLen, false)
	}
	v.text(at+".name", "name", it.GetName(), maxItemNameLen, false)
	v.intRange(at+".quantity", "quantity", it.GetQuantity(), minQuantity, maxQuantity)
	v.text(at+".unit", "unit", it.GetUnit(), maxUnitLen, false)
	v.date(at+".expiry_date", "expiry_date", it.GetExpiryDate())
}

func (v *validator) urgency(at string, u linliv1.Urgency, required bool) {
	if _, defined := linliv1.Urgency_name[int32(u)]; !defined {
		v.fail(at, "urgency_invalid", "Choose how urgent this is.")
	} else if required && u == linliv1.Urgency_URGENCY_UNSPECIFIED {
		v.fail(at, "urgency_required", "Choose how urgent this is.")
	}
}
