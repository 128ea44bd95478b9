package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/linli/linli/client"
	"github.com/linli/linli/internal/bearer"
	"github.com/linli/linli/internal/pushsim"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// story runs the night of the fever, step by step.
func (d *demo) story(_ linliv1connect.CommunityServiceClient, _ string, codes map[linliv1.Role]string) error {
	res, vol := codes[linliv1.Role_ROLE_RESIDENT], codes[linliv1.Role_ROLE_VOLUNTEER]
	wang, err := d.person(res, "王芳", "wang-phone", "1502")
	if err != nil {
		return err
	}
	li, err := d.person(res, "李伟", "li-phone", "1101")
	if err != nil {
		return err
	}
	zhang, err := d.person(vol, "张强", "zhang-phone", "0801")
	if err != nil {
		return err
	}
	chen, err := d.person(res, "陈静", "chen-phone", "0302")
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return d.registerPusher(li) },
		func() error { return d.offer(li) },
		func() error { return d.request(wang) },
		func() error { return d.woken(li) },
		func() error { return d.propose(wang, li) },
		func() error { return d.accept(li) },
		func() error { return d.carry(zhang) },
		func() error { return d.confirm(wang) },
		func() error { return d.privacy(chen) },
		func() error { return d.emergency(chen) },
		func() error { return d.hotline(d.staff, chen) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintln(d.out, "\nThe story ran end to end.")
	return nil
}

func (d *demo) offer(li *person) error {
	d.say("李伟 (building 3, 11th floor) has a spare bottle of 美林 and offers it.")
	expiry := time.Now().AddDate(1, 0, 0).Format(time.DateOnly)
	_, err := d.push(li, &linliv1.Mutation{Kind: &linliv1.Mutation_PostOffer{PostOffer: &linliv1.PostOfferMutation{
		PostId: "li-meilin", Draft: &linliv1.PostDraft{
			Items:      []*linliv1.PostItem{{ItemCode: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, Unit: "瓶", ExpiryDate: expiry}},
			Note:       "家里有一瓶美林，没开封。Unopened bottle of children's Motrin.",
			BuildingId: "b3", Floor: 11, Unit: "1101", Phone: "138 0000 1101", DisplayName: "李伟",
		},
	}}})
	if err == nil {
		d.show("offer posted: 美林 ×1, expires %s", expiry)
	}
	return err
}

func (d *demo) request(wang *person) error {
	d.say("23:40 — 王芳's baby (8 months) has a fever of 39°C; delivery can't get through. She asks.")
	_, err := d.push(wang, &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "wang-fever", Draft: &linliv1.PostDraft{
			Items:      []*linliv1.PostItem{{ItemCode: "acetaminophen-suspension-child", Name: "儿童退烧药", Quantity: 1, Unit: "瓶"}},
			Urgency:    linliv1.Urgency_URGENCY_URGENT,
			Note:       "孩子发烧39度，外卖送不进来，急需儿童退烧药！Baby has a fever, need a children's fever reducer.",
			BuildingId: "b3", Floor: 15, Unit: "1502", Phone: "138 0000 1502", DisplayName: "王芳",
			ForWhom: &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_INFANT, AgeMonths: 8},
		},
	}}})
	if err != nil {
		return err
	}
	all, err := d.synced(wang)
	if err != nil {
		return err
	}
	m := bestMatch(client.MergeScopes(all), "wang-fever")
	if m == nil {
		return errors.New("no suggestion reached 王芳")
	}
	d.show("suggested to 王芳: offer %s, score %d — %s", m.GetOfferPostId(), m.GetScore(), strings.Join(m.GetReasons(), "; "))
	return nil
}

// bestMatch returns the highest-scoring suggestion for request in state
// (ties broken by offer id), or nil.
func bestMatch(state map[string]*linliv1.Entity, request string) *linliv1.Match {
	var found *linliv1.Match
	for _, e := range state {
		m := e.GetMatch()
		if m == nil || m.GetRequestPostId() != request {
			continue
		}
		if found == nil || cmp.Or(cmp.Compare(m.GetScore(), found.GetScore()), cmp.Compare(found.GetOfferPostId(), m.GetOfferPostId())) > 0 {
			found = m
		}
	}
	return found
}

func (d *demo) propose(wang, li *person) error {
	d.say("王芳 accepts the suggestion: one bottle, carried by a volunteer to the 15th-floor elevator windowsill.")
	_, err := d.push(wang, &linliv1.Mutation{Kind: &linliv1.Mutation_ProposeHandoff{ProposeHandoff: &linliv1.ProposeHandoffMutation{
		HandoffId: "h-2340", RequestPostId: "wang-fever", OfferPostId: "li-meilin",
		ItemCode: "ibuprofen-suspension-child", Quantity: 1, NeedsCourier: true, DropPoint: "15楼电梯口窗台",
	}}})
	if err == nil {
		d.show("the bottle is reserved for 王芳: nobody else can take it now")
	}
	return err
}

func (d *demo) accept(li *person) error {
	d.say("李伟 agrees. Now, and only now, each sees the other's unit and phone.")
	if _, err := d.push(li, &linliv1.Mutation{Kind: &linliv1.Mutation_AcceptHandoff{AcceptHandoff: &linliv1.AcceptHandoffMutation{HandoffId: "h-2340"}}}); err != nil {
		return err
	}
	h, err := d.handoff(li)
	if err == nil {
		d.show("李伟 sees: deliver to unit %s (phone %s)", h.GetReceiverUnit(), h.GetReceiverPhone())
	}
	return err
}

func (d *demo) carry(zhang *person) error {
	d.say("张强, building 3's volunteer, sees the handoff on his board and carries it.")
	h, err := d.handoff(zhang)
	if err != nil {
		return err
	}
	d.show("board: %s → %s, %d × %s, drop at %s (unit shown: %q)", h.GetGiverId(), h.GetReceiverId(), h.GetQuantity(), h.GetItemCode(), h.GetDropPoint(), h.GetReceiverUnit())
	if _, err := d.push(zhang, &linliv1.Mutation{Kind: &linliv1.Mutation_ClaimCourier{ClaimCourier: &linliv1.ClaimCourierMutation{HandoffId: "h-2340"}}}); err != nil {
		return err
	}
	if h, err = d.handoff(zhang); err != nil {
		return err
	}
	d.show("claimed; pickup code %s, shown at 李伟's door", h.GetPickupCode())
	if _, err := d.push(zhang, &linliv1.Mutation{Kind: &linliv1.Mutation_PickUp{PickUp: &linliv1.PickUpMutation{HandoffId: "h-2340", PickupCode: h.GetPickupCode()}}}); err != nil {
		return err
	}
	if _, err := d.push(zhang, &linliv1.Mutation{Kind: &linliv1.Mutation_DropOff{DropOff: &linliv1.DropOffMutation{HandoffId: "h-2340", DropPoint: "15楼电梯口窗台"}}}); err != nil {
		return err
	}
	d.show("picked up, and left on the 15th-floor elevator windowsill")
	return nil
}

func (d *demo) confirm(wang *person) error {
	d.say("王芳 opens the door, takes the bag from the windowsill and confirms.")
	if _, err := d.push(wang, &linliv1.Mutation{Kind: &linliv1.Mutation_ConfirmReceived{ConfirmReceived: &linliv1.ConfirmReceivedMutation{HandoffId: "h-2340"}}}); err != nil {
		return err
	}
	h, err := d.handoff(wang)
	if err != nil {
		return err
	}
	for _, e := range h.GetHistory() {
		d.show("%-28s by %s", e.GetState().String(), e.GetByUserId())
	}
	return nil
}

func (d *demo) privacy(chen *person) error {
	d.say("陈静, another neighbour, looks at the community board.")
	all, err := d.synced(chen)
	if err != nil {
		return err
	}
	delete(all, "user/"+chen.user) // her own scope
	for sc, entities := range all {
		for _, e := range entities {
			if p := e.GetPost(); p != nil && (p.GetUnit() != "" || p.GetPhone() != "" || strings.Contains(e.String(), "1502")) {
				return fmt.Errorf("privacy leak: %s sees in %s: %s", chen.name, sc, e)
			}
		}
	}
	state := client.MergeScopes(all)
	for _, id := range slices.Sorted(maps.Keys(state)) {
		if p := state[id].GetPost(); p != nil {
			d.show("%s", describePost(p))
		}
	}
	d.show("no unit number or phone reached 陈静")
	return nil
}

func (d *demo) emergency(chen *person) error {
	d.say("陈静 posts that her two-month-old has a fever: linli says call 120 now.")
	r, err := d.push(chen, &linliv1.Mutation{Kind: &linliv1.Mutation_PostRequest{PostRequest: &linliv1.PostRequestMutation{
		PostId: "chen-infant", Draft: &linliv1.PostDraft{
			Items:   []*linliv1.PostItem{{ItemCode: "thermometer-electronic", Name: "体温计", Quantity: 1}},
			Urgency: linliv1.Urgency_URGENCY_URGENT, Note: "宝宝两个月大，发烧38.5度",
			BuildingId: "b3", Floor: 3, DisplayName: "陈静",
			ForWhom: &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_INFANT, AgeMonths: 2},
		},
	}}})
	if err != nil {
		return err
	}
	d.show("%s:", r.GetReason())
	for _, line := range strings.Split(r.GetMessage(), "\n") {
		d.show("  %s", line)
	}
	return nil
}

// handoff syncs p and returns the story's handoff as p's device holds it
// (the most revealing projection p may see).
func (d *demo) handoff(p *person) (*linliv1.Handoff, error) {
	all, err := d.synced(p)
	if err != nil {
		return nil, err
	}
	var h *linliv1.Handoff
	for _, e := range client.MergeScopes(all) {
		if x := e.GetHandoff(); x != nil && x.GetId() == "h-2340" {
			h = x
		}
	}
	if h == nil {
		return nil, fmt.Errorf("%s does not see the handoff", p.name)
	}
	return h, nil
}

// phoneKey is the push key of a character's phone at the demo's gateway.
func phoneKey(p *person) string { return "demo-token-" + p.device }

// registerPusher registers p's phone for notifications, if the demo has a
// push gateway.
func (d *demo) registerPusher(p *person) error {
	if d.gateway == nil {
		return nil
	}
	auth := linliv1connect.NewAuthServiceClient(d.http, d.base, connect.WithInterceptors(bearer.Token(p.token)))
	_, err := auth.SetPusher(d.ctx, &linliv1.SetPusherRequest{ProtocolVersion: 1, Pusher: &linliv1.Pusher{
		Kind: linliv1.PusherKind_PUSHER_KIND_HTTP, AppId: "org.linli.app.android", Pushkey: phoneKey(p), Lang: "zh-CN"}})
	if err != nil {
		return fmt.Errorf("%s's pusher: %w", p.name, err)
	}
	return nil
}

// woken waits for the push gateway to take a notification for p's phone
// and shows it: what reaches a phone whose app is closed.
func (d *demo) woken(p *person) error {
	if d.gateway == nil {
		d.show("(this server's push gateway is not the demo's: no notification shown)")
		return nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	var got pushsim.Received
	err := d.gateway.Wait(ctx, func(rs []pushsim.Received) bool {
		for _, r := range rs {
			if r.Pushkey == phoneKey(p) {
				got = r
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("no notification reached %s's phone: %w", p.name, err)
	}
	d.show("%s's phone, app closed, is woken: %s ×%d (id %s…) — no name, unit or medicine in it; the app pulls for the rest",
		p.name, got.Type, got.Count, got.EventID[:8])
	return nil
}
