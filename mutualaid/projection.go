package mutualaid

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// PostViews returns a post's projection in each scope that may see it, each
// a deterministically marshalled linliv1.Entity holding the post:
//
//   - CommunityScope(community): redacted. AuthorName is masked to its first
//     character followed by "**" ("王芳" → "王**", "Lucy" → "L**"); Unit and
//     Phone are empty; an on-behalf resident's name is masked too and the
//     consent note dropped; of a triage verdict only "emergency" remains
//     (not the signs or advice); of the escalation only the hotline case's
//     state remains. AuthorId is kept so that apps can tell their own posts.
//   - UserScope(author): in full.
//   - StaffScope(community): in full.
//
// Posts in every status are published, cancelled ones included: neighbours
// see the status change instead of the post silently vanishing, and the
// log's compaction keeps it to one entry per post per scope.
//
// Errors: only a marshalling error, when p holds invalid UTF-8 (which
// ValidateMutation rules out for everything NewMutationAt stores).
func PostViews(p *linliv1.Post) (map[string][]byte, error) {
	full, err := marshalEntity(p)
	if err != nil {
		return nil, err
	}
	redacted, err := marshalRedacted(p)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		CommunityScope(p.GetCommunityId()): redacted,
		UserScope(p.GetAuthorId()):         full,
		StaffScope(p.GetCommunityId()):     full,
	}, nil
}

// marshalRedacted marshals the copy of p every member of its community may
// see. It redacts p in place for the marshalling and puts every field back
// before it returns, which spares copying the post; p must not be read
// concurrently meanwhile.
func marshalRedacted(p *linliv1.Post) ([]byte, error) {
	name, unit, phone, share := p.AuthorName, p.Unit, p.Phone, p.SharePhoneWithHotline
	onBehalf, triage, escalation := p.OnBehalf, p.Triage, p.Escalation
	defer func() {
		p.AuthorName, p.Unit, p.Phone, p.SharePhoneWithHotline = name, unit, phone, share
		p.OnBehalf, p.Triage, p.Escalation = onBehalf, triage, escalation
	}()
	p.AuthorName, p.Unit, p.Phone, p.SharePhoneWithHotline = MaskName(name), "", "", false
	if onBehalf != nil {
		// That someone posts for a neighbour is shown; who and what was agreed is not.
		p.OnBehalf = &linliv1.OnBehalf{ResidentName: MaskName(onBehalf.GetResidentName()), Consent: onBehalf.GetConsent()}
	}
	if triage != nil {
		// Neighbours see an emergency, not its signs.
		p.Triage = &linliv1.TriageVerdict{Emergency: triage.GetEmergency()}
	}
	p.Escalation = nil
	if hc := escalation.GetHotlineCase(); hc != nil {
		// Neighbours learn that the hotline has it, not what was said.
		p.Escalation = &linliv1.Escalation{HotlineCase: &linliv1.HotlineCase{State: hc.GetState()}}
	}
	return marshalEntity(p)
}

// MaskName hides a display name behind its first character: "王芳" → "王**",
// "Lucy Chen" → "L**". The mask has the same length whatever the name, and
// the empty name stays empty.
func MaskName(name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 {
		return ""
	}
	return string(r) + "**"
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// marshalEntity marshals linliv1.Entity{Post: p} deterministically.
func marshalEntity(p *linliv1.Post) ([]byte, error) {
	b, err := deterministic.Marshal(&linliv1.Entity{Kind: &linliv1.Entity_Post{Post: p}})
	if err != nil {
		return nil, fmt.Errorf("mutualaid: marshal post %s: %w", p.GetId(), err)
	}
	return b, nil
}
