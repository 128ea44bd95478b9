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
	redacted, err := marshalEntity(redactPost(p))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		CommunityScope(p.GetCommunityId()): redacted,
		UserScope(p.GetAuthorId()):         full,
		StaffScope(p.GetCommunityId()):     full,
	}, nil
}

// redactPost returns the copy of p every member of its community may see.
func redactPost(p *linliv1.Post) *linliv1.Post {
	r := proto.CloneOf(p)
	r.AuthorName = MaskName(p.GetAuthorName())
	r.Unit = ""
	r.Phone = ""
	r.SharePhoneWithHotline = false
	if o := p.GetOnBehalf(); o != nil {
		// That someone posts for a neighbour is shown; who and what was agreed is not.
		r.OnBehalf = &linliv1.OnBehalf{ResidentName: MaskName(o.GetResidentName()), Consent: o.GetConsent()}
	}
	if p.GetTriage() != nil {
		// Neighbours see an emergency, not its signs.
		r.Triage = &linliv1.TriageVerdict{Emergency: p.GetTriage().GetEmergency()}
	}
	if hc := p.GetEscalation().GetHotlineCase(); hc != nil {
		// Neighbours learn that the hotline has it, not what was said.
		r.Escalation = &linliv1.Escalation{HotlineCase: &linliv1.HotlineCase{State: hc.GetState()}}
	} else {
		r.Escalation = nil
	}
	return r
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
