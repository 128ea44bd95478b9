package mutualaid_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// offerWith is Lucy's offer with its draft changed by f.
func offerWith(f func(d *linliv1.PostDraft)) *linliv1.Mutation {
	m := medicineOffer("offer-1")
	f(m.GetPostOffer().GetDraft())
	return m
}

// requestWith is 王芳's request with its draft changed by f.
func requestWith(f func(d *linliv1.PostDraft)) *linliv1.Mutation {
	m := feverRequest("req-2340")
	f(m.GetPostRequest().GetDraft())
	return m
}

// itemWith is Lucy's offer with its third item (antigen tests) changed by f.
func itemWith(f func(it *linliv1.PostItem)) *linliv1.Mutation {
	return offerWith(func(d *linliv1.PostDraft) { f(d.Items[2]) })
}

func TestValidateMutation(t *testing.T) {
	t.Parallel()
	const item = "post_offer.draft.items[2]"
	tests := []struct {
		name          string
		m             *linliv1.Mutation
		field, reason string
	}{
		{"NilMutation", nil, "kind", "unknown_mutation_kind"},
		{"MissingKind", &linliv1.Mutation{Id: 1}, "kind", "unknown_mutation_kind"},
		{"UnknownKind", unknownKind(t), "kind", "unknown_mutation_kind"},
		{"PostIDEmpty", medicineOffer(""), "post_offer.post_id", "post_id_required"},
		{"PostIDTooLong", feverRequest(strings.Repeat("a", 65)), "post_request.post_id", "post_id_too_long"},
		{"PostIDSlash", medicineOffer("yuqiao/offer-1"), "post_offer.post_id", "post_id_invalid"},
		{"PostIDChinese", medicineOffer("帖子1"), "post_offer.post_id", "post_id_invalid"},
		{"EditPostIDEmpty", editMutation("", feverRequest("").GetPostRequest().GetDraft()), "edit_post.post_id", "post_id_required"},
		{"CancelPostIDSpace", cancelMutation("req 2340", ""), "cancel_post.post_id", "post_id_invalid"},
		{"OfferDraftMissing", &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{PostId: "o1"}}}, "post_offer.draft", "draft_required"},
		{"RequestDraftMissing", &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{PostId: "r1"}}}, "post_request.draft", "draft_required"},
		{"EditDraftMissing", editMutation("r1", nil), "edit_post.draft", "draft_required"},
		{"NoItems", offerWith(func(d *linliv1.PostDraft) { d.Items = nil }), "post_offer.draft.items", "items_required"},
		{"TooManyItems", offerWith(func(d *linliv1.PostDraft) { d.Items = repeatItem(d.Items[0], 21) }), "post_offer.draft.items", "too_many_items"},
		{"ItemCodeEmpty", itemWith(func(it *linliv1.PostItem) { it.ItemCode = "" }), item + ".item_code", "item_code_required"},
		{"ItemCodeUpperCase", itemWith(func(it *linliv1.PostItem) { it.ItemCode = "Antigen-Test" }), item + ".item_code", "item_code_invalid"},
		{"ItemCodeUnderscore", itemWith(func(it *linliv1.PostItem) { it.ItemCode = "antigen_test" }), item + ".item_code", "item_code_invalid"},
		{"ItemCodeTooLong", itemWith(func(it *linliv1.PostItem) { it.ItemCode = strings.Repeat("x", 65) }), item + ".item_code", "item_code_too_long"},
		{"NameTooLong", itemWith(func(it *linliv1.PostItem) { it.Name = strings.Repeat("药", 81) }), item + ".name", "name_too_long"},
		{"NameControl", itemWith(func(it *linliv1.PostItem) { it.Name = "抗原\x00" }), item + ".name", "name_invalid"},
		{"NameNewline", itemWith(func(it *linliv1.PostItem) { it.Name = "抗原\n试剂" }), item + ".name", "name_invalid"},
		{"QuantityZero", itemWith(func(it *linliv1.PostItem) { it.Quantity = 0 }), item + ".quantity", "quantity_out_of_range"},
		{"QuantityNegative", itemWith(func(it *linliv1.PostItem) { it.Quantity = -3 }), item + ".quantity", "quantity_out_of_range"},
		{"QuantityOverLimit", itemWith(func(it *linliv1.PostItem) { it.Quantity = 1001 }), item + ".quantity", "quantity_out_of_range"},
		{"QuantityHuge", itemWith(func(it *linliv1.PostItem) { it.Quantity = 2147483647 }), item + ".quantity", "quantity_out_of_range"},
		{"ItemUnitTooLong", itemWith(func(it *linliv1.PostItem) { it.Unit = strings.Repeat("盒", 17) }), item + ".unit", "unit_too_long"},
		{"ExpiryNoSuchDay", itemWith(func(it *linliv1.PostItem) { it.ExpiryDate = "2024-02-30" }), item + ".expiry_date", "expiry_date_invalid"},
		{"ExpirySlashes", itemWith(func(it *linliv1.PostItem) { it.ExpiryDate = "2024/05/31" }), item + ".expiry_date", "expiry_date_invalid"},
		{"ExpiryShortMonth", itemWith(func(it *linliv1.PostItem) { it.ExpiryDate = "2024-5-31" }), item + ".expiry_date", "expiry_date_invalid"},
		{"ExpiryWithTime", itemWith(func(it *linliv1.PostItem) { it.ExpiryDate = "2024-05-31T00:00:00Z" }), item + ".expiry_date", "expiry_date_invalid"},
		{"RequestUrgencyUnspecified", requestWith(func(d *linliv1.PostDraft) { d.Urgency = 0 }), "post_request.draft.urgency", "urgency_required"},
		{"OfferUrgencyUndefined", offerWith(func(d *linliv1.PostDraft) { d.Urgency = 99 }), "post_offer.draft.urgency", "urgency_invalid"},
		{"RequestUrgencyNegative", requestWith(func(d *linliv1.PostDraft) { d.Urgency = -1 }), "post_request.draft.urgency", "urgency_invalid"},
		{"NoteTooLong", requestWith(func(d *linliv1.PostDraft) { d.Note = strings.Repeat("烧", 1001) }), "post_request.draft.note", "note_too_long"},
		{"NoteCarriageReturn", requestWith(func(d *linliv1.PostDraft) { d.Note = "急需\r\n退烧药" }), "post_request.draft.note", "note_invalid"},
		{"NoteTab", requestWith(func(d *linliv1.PostDraft) { d.Note = "急需\t退烧药" }), "post_request.draft.note", "note_invalid"},
		{"NoteBadUTF8", requestWith(func(d *linliv1.PostDraft) { d.Note = "急需\xff" }), "post_request.draft.note", "note_invalid"},
		{"BuildingEmpty", requestWith(func(d *linliv1.PostDraft) { d.BuildingId = "" }), "post_request.draft.building_id", "building_id_required"},
		{"BuildingChinese", requestWith(func(d *linliv1.PostDraft) { d.BuildingId = "3号楼" }), "post_request.draft.building_id", "building_id_invalid"},
		{"BuildingTooLong", requestWith(func(d *linliv1.PostDraft) { d.BuildingId = strings.Repeat("b", 65) }), "post_request.draft.building_id", "building_id_too_long"},
		{"FloorTooLow", requestWith(func(d *linliv1.PostDraft) { d.Floor = -6 }), "post_request.draft.floor", "floor_out_of_range"},
		{"FloorTooHigh", requestWith(func(d *linliv1.PostDraft) { d.Floor = 201 }), "post_request.draft.floor", "floor_out_of_range"},
		{"UnitTooLong", requestWith(func(d *linliv1.PostDraft) { d.Unit = strings.Repeat("1", 17) }), "post_request.draft.unit", "unit_too_long"},
		{"UnitControl", requestWith(func(d *linliv1.PostDraft) { d.Unit = "15\x1b[0m02" }), "post_request.draft.unit", "unit_invalid"},
		{"PhoneLetters", requestWith(func(d *linliv1.PostDraft) { d.Phone = "138-call-me" }), "post_request.draft.phone", "phone_invalid"},
		{"PhoneFullWidthDigits", requestWith(func(d *linliv1.PostDraft) { d.Phone = "１３８" }), "post_request.draft.phone", "phone_invalid"},
		{"PhoneTooLong", requestWith(func(d *linliv1.PostDraft) { d.Phone = strings.Repeat("8", 21) }), "post_request.draft.phone", "phone_too_long"},
		{"DisplayNameEmpty", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = "" }), "post_request.draft.display_name", "display_name_required"},
		{"DisplayNameSpaces", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = "   " }), "post_request.draft.display_name", "display_name_required"},
		{"DisplayNameTooLong", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = strings.Repeat("王", 41) }), "post_request.draft.display_name", "display_name_too_long"},
		{"DisplayNameNewline", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = "王\n芳" }), "post_request.draft.display_name", "display_name_invalid"},
		{"DisplayNameBadUTF8", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = "\xe7\x8e" }), "post_request.draft.display_name", "display_name_invalid"},
		{"CancelReasonTooLong", cancelMutation("req-2340", strings.Repeat("好", 201)), "cancel_post.reason", "cancel_reason_too_long"},
		{"CancelReasonControl", cancelMutation("req-2340", "不需要了\x07"), "cancel_post.reason", "cancel_reason_invalid"},
		{"FirstProblemWins", requestWith(func(d *linliv1.PostDraft) { d.Items[1].Quantity = 0; d.Note = "\x00" }), "post_request.draft.items[1].quantity", "quantity_out_of_range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := mutualaid.ValidateMutation(tt.m)
			e, ok := errors.AsType[*mutualaid.Error](err)
			if !ok {
				t.Fatalf("got %v, want *mutualaid.Error %s at %s", err, tt.reason, tt.field)
			}
			if e.Code != mutualaid.Invalid || e.Field != tt.field || e.Reason != tt.reason || e.Message == "" {
				t.Errorf("got code %q field %q reason %q message %q; want invalid %q %q with a message", e.Code, e.Field, e.Reason, e.Message, tt.field, tt.reason)
			}
		})
	}
}

func TestValidateMutationAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    *linliv1.Mutation
	}{
		{"FeverRequest", feverRequest("req-2340")},
		{"MedicineOffer", medicineOffer("offer-1")},
		{"OfferWithoutUrgency", offerWith(func(d *linliv1.PostDraft) { d.Urgency = 0 })},
		{"EditWithoutUrgency", editMutation("offer-1", medicineOffer("").GetPostOffer().GetDraft())},
		{"CancelWithoutReason", cancelMutation("req-2340", "")},
		{"CancelWithReason", cancelMutation("req-2340", "邻居送来了泰诺林")},
		{"Bounds", itemWith(func(it *linliv1.PostItem) {
			it.Quantity = 1000
			it.Name = strings.Repeat("药", 80)
			it.Unit = strings.Repeat("盒", 16)
		})},
		{"QuantityOne", itemWith(func(it *linliv1.PostItem) { it.Quantity = 1 })},
		{"TwentyItems", offerWith(func(d *linliv1.PostDraft) { d.Items = repeatItem(d.Items[0], 20) })},
		{"Basement", requestWith(func(d *linliv1.PostDraft) { d.Floor = -5 })},
		{"TopFloor", requestWith(func(d *linliv1.PostDraft) { d.Floor = 200 })},
		{"LongestNote", requestWith(func(d *linliv1.PostDraft) { d.Note = strings.Repeat("烧\n", 500) })},
		{"NoPrivateDetails", requestWith(func(d *linliv1.PostDraft) { d.Unit = ""; d.Phone = "" })},
		{"LeapDay", itemWith(func(it *linliv1.PostItem) { it.ExpiryDate = "2024-02-29" })},
		{"LongIDs", feverRequest(strings.Repeat("a-Z_9", 12) + "abcd")},
		{"OneRuneName", requestWith(func(d *linliv1.PostDraft) { d.DisplayName = "王" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := mutualaid.ValidateMutation(tt.m); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func repeatItem(it *linliv1.PostItem, n int) []*linliv1.PostItem {
	items := make([]*linliv1.PostItem, n)
	for i := range items {
		items[i] = proto.CloneOf(it)
	}
	return items
}

// unknownKind is a mutation from a newer app: a kind this server's schema
// does not have arrives as an unknown field.
func unknownKind(t *testing.T) *linliv1.Mutation {
	t.Helper()
	b := []byte{0x08, 0x01, 0xfa, 0x06, 0x00} // id=1, field 111 (length-delimited, empty)
	var m linliv1.Mutation
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return &m
}

// FuzzValidateMutation feeds arbitrary bytes through the path a pushed
// mutation takes: decode, validate, build. It must never panic, and
// anything that validates must be publishable.
func FuzzValidateMutation(f *testing.F) {
	for _, m := range []*linliv1.Mutation{
		feverRequest("req-2340"), medicineOffer("offer-1"), cancelMutation("req-2340", "谢谢"),
		editMutation("offer-1", medicineOffer("").GetPostOffer().GetDraft()),
		itemWith(func(it *linliv1.PostItem) { it.Quantity = 0 }),
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m linliv1.Mutation
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		err := mutualaid.ValidateMutation(&m)
		if err != nil {
			if _, ok := errors.AsType[*mutualaid.Error](err); !ok {
				t.Fatalf("got %T %v, want *mutualaid.Error", err, err)
			}
			return
		}
		if _, err := mutualaid.NewMutationAt(wang, &m, time.Now()); err != nil {
			t.Fatalf("valid mutation refused by NewMutationAt: %v", err)
		}
		if d := draftOf(&m); d != nil {
			p := &linliv1.Post{Id: "p", CommunityId: "c", AuthorId: "u", AuthorName: d.GetDisplayName(), Note: d.GetNote(), Items: d.GetItems(), Unit: d.GetUnit(), Phone: d.GetPhone()}
			if _, err := mutualaid.PostViews(p); err != nil {
				t.Fatalf("valid draft cannot be published: %v", err)
			}
		}
	})
}

func draftOf(m *linliv1.Mutation) *linliv1.PostDraft {
	switch {
	case m.GetPostOffer() != nil:
		return m.GetPostOffer().GetDraft()
	case m.GetPostRequest() != nil:
		return m.GetPostRequest().GetDraft()
	}
	return m.GetEditPost().GetDraft()
}
