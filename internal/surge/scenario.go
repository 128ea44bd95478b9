package surge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/linli/linli/mutualaid/catalog"
)

// Scenario is the population and the behaviour the simulation plays: who
// lives where, who falls ill and when, what they lack, who holds spares,
// when people look at their phones, how volunteers, staff and the hotline
// respond, and how a chat group behaves. It is read from a JSON file
// (every field optional: a missing one keeps its default, see Default);
// `linli sim surge --print-scenario` writes the defaults out to edit.
//
// Times of day are "HH:MM" in the community's time (UTC+8). Shares are
// fractions from 0 to 1. Minutes and hours are means of exponential
// draws unless a field says otherwise.
type Scenario struct {
	// Name shows in the report.
	Name string `json:"name"`
	// Start is when the simulated 72 hours begin (RFC 3339).
	Start string `json:"start"`
	// Hours simulated.
	Hours int `json:"hours"`

	// Households, spread evenly over Buildings of Floors floors.
	Households int `json:"households"`
	Buildings  int `json:"buildings"`
	Floors     int `json:"floors"`

	// Who lives in a household (each drawn independently).
	Population Population `json:"population"`
	// Epidemic is the curve of households falling ill.
	Epidemic Epidemic `json:"epidemic"`
	// Needs are what a household that falls ill may lack and ask for.
	Needs []NeedSpec `json:"needs"`
	// Spares are what households hold beyond their own needs.
	Spares []SpareSpec `json:"spares"`
	// WillingShare of households holding spares give them to neighbours.
	WillingShare float64 `json:"willing_share"`

	// People is how residents use their phones and move about.
	People People `json:"people"`
	// Volunteers carry handoffs in their building.
	Volunteers Volunteers `json:"volunteers"`
	// Staff work the community's queue in office hours.
	Staff Staff `json:"staff"`
	// Hotline is the city hotline (12345).
	Hotline Hotline `json:"hotline"`
	// Linli is how residents use linli's app.
	Linli LinliBehaviour `json:"linli"`
	// Chat is the chat-group baseline.
	Chat Chat `json:"chat"`
}

// Population sets who lives in the households.
type Population struct {
	// ChildUnder6 is the share of households with a child under six.
	ChildUnder6 float64 `json:"child_under_6"`
	// InfantShare of those children are under a year old; of the
	// infants, NewbornShare are under three months.
	InfantShare  float64 `json:"infant_share"`
	NewbornShare float64 `json:"newborn_share"`
	// ElderlyAlone is the share of households of an elderly person living
	// alone; ElderlyWithoutApp of them have no smartphone app and phone
	// their building's volunteer (or, failing that, the community office)
	// to post for them.
	ElderlyAlone      float64 `json:"elderly_alone"`
	ElderlyWithoutApp float64 `json:"elderly_without_app"`
	// Pregnant and Chronic are shares of households with a pregnant woman
	// or someone with a chronic illness.
	Pregnant float64 `json:"pregnant"`
	Chronic  float64 `json:"chronic"`
}

// Epidemic is the curve of new sick households.
type Epidemic struct {
	// AlreadySick is the share of households ill when the run starts (their
	// illness began in the day before; needs that arose before the start
	// are not simulated).
	AlreadySick float64 `json:"already_sick"`
	// AttackRate is the share of households that fall ill during the run,
	// on a bell curve peaking at PeakHour with a spread (standard
	// deviation) of SpreadHours.
	AttackRate  float64 `json:"attack_rate"`
	PeakHour    float64 `json:"peak_hour"`
	SpreadHours float64 `json:"spread_hours"`
	// IllDays is how long a household stays ill (for the share of sick
	// households over time, and for volunteers who cannot carry).
	IllDays float64 `json:"ill_days"`
	// EmergencyShare of households that fall ill have an emergency a
	// neighbour cannot help with (an infant under three months with fever,
	// an elderly person short of breath): its request's text shows the
	// signs, and the need is for 120 first.
	EmergencyShare float64 `json:"emergency_share"`
}

// NeedSpec is one thing an ill household may lack.
type NeedSpec struct {
	// Kind names the need in the report ("fever_reducer_child").
	Kind string `json:"kind"`
	// Item is the catalog code asked for; matching (in linli) and the
	// asker (in the chat group) accept what fits in its category.
	Item string `json:"item"`
	// Name is how the resident writes it ("美林").
	Name string `json:"name"`
	// Quantity asked for.
	Quantity int `json:"quantity"`
	// For: "household" (any ill household), "child" (households with a
	// child under six, whose child fell ill), "elderly_alone".
	For string `json:"for"`
	// Share of the households it applies to that lack it when ill.
	Share float64 `json:"share"`
	// The need arises between DelayMinHours and DelayMaxHours after the
	// household falls ill (uniform).
	DelayMinHours float64 `json:"delay_min_hours"`
	DelayMaxHours float64 `json:"delay_max_hours"`
	// UrgentShare of these requests are posted as urgent, the rest
	// routine (emergencies become critical by linli's triage).
	UrgentShare float64 `json:"urgent_share"`
	// Note is what the resident writes.
	Note string `json:"note"`
}

// SpareSpec is one thing households may hold spare.
type SpareSpec struct {
	// Item is the catalog code held.
	Item string `json:"item"`
	// Name is how the holder writes it.
	Name string `json:"name"`
	// Share of households holding it (of households with a child under
	// six if ChildHouseholds, else of all).
	Share           float64 `json:"share"`
	ChildHouseholds bool    `json:"child_households"`
	// Between Min and Max of it (uniform).
	Min int `json:"min"`
	Max int `json:"max"`
}

// People is how residents use their phones and move about.
type People struct {
	// LookMinutes is the mean time between two looks at the phone (the
	// app, or the chat group) of someone awake; WaitingLookMinutes of
	// someone waiting for help.
	LookMinutes        float64 `json:"look_minutes"`
	WaitingLookMinutes float64 `json:"waiting_look_minutes"`
	// Bed and wake times are drawn uniformly between these.
	BedEarliest  string `json:"bed_earliest"`
	BedLatest    string `json:"bed_latest"`
	WakeEarliest string `json:"wake_earliest"`
	WakeLatest   string `json:"wake_latest"`
	// NightLookMinutes is the mean time between looks of someone up at
	// night with a sick child or an unmet urgent need; others sleep.
	NightLookMinutes float64 `json:"night_look_minutes"`
	// WalkSameMinutes and WalkOtherMinutes bound (uniform from half to the
	// full value) a trip to a neighbour's door or drop point in the same
	// building, or in another one.
	WalkSameMinutes  float64 `json:"walk_same_minutes"`
	WalkOtherMinutes float64 `json:"walk_other_minutes"`
	// SelfHelpHours is the mean time after which a need is met some other
	// way (a pharmacy restocks, a delivery gets through, family brings it):
	// the same draw in both policies.
	SelfHelpHours float64 `json:"self_help_hours"`
}

// Volunteers carry handoffs in their building.
type Volunteers struct {
	// PerBuilding volunteers (healthy adults, not elderly living alone).
	PerBuilding int `json:"per_building"`
	// LookMinutes is how often an awake, healthy volunteer looks at the
	// building's board (or the building's chat group).
	LookMinutes float64 `json:"look_minutes"`
}

// Staff work the community's queue.
type Staff struct {
	// Office hours, every day of the surge.
	OfficeOpens  string `json:"office_opens"`
	OfficeCloses string `json:"office_closes"`
	// LookMinutes is how often staff go through the queue in office hours.
	LookMinutes float64 `json:"look_minutes"`
}

// Hotline is the city hotline (12345) the hotline simulator plays.
type Hotline struct {
	// ResolveHours is how long the hotline takes from a case to its close
	// (the street office got the resident what they needed).
	ResolveHours float64 `json:"resolve_hours"`
}

// LinliBehaviour is how residents use linli.
type LinliBehaviour struct {
	// ProposeTimeoutMinutes: a requester whose proposal the giver has not
	// accepted after this long cancels it and tries the next suggestion.
	ProposeTimeoutMinutes float64 `json:"propose_timeout_minutes"`
	// GiversPropose: givers who see a suggested request still open propose
	// a handoff themselves ("I have 美林, I'll bring it").
	GiversPropose bool `json:"givers_propose"`
	// CourierWaitMinutes: a giver whose accepted handoff still has no
	// courier after this long carries it to the other building themselves.
	CourierWaitMinutes float64 `json:"courier_wait_minutes"`
	// JobsEveryMinutes is how often the server's background passes run
	// (deadlines, the hotline outbox and case following) on the simulated
	// clock; the server's own default is every 10 seconds.
	JobsEveryMinutes float64 `json:"jobs_every_minutes"`
}

// Chat is the chat-group baseline: a request is a message in the
// building's group; neighbours who see it and hold anything of its
// category answer; nothing is reserved, nothing is ranked, nothing has a
// deadline.
type Chat struct {
	// Scrollback: a reader sees a message only if fewer than this many
	// messages came after it in the group before they looked (older ones
	// are buried).
	Scrollback int `json:"scrollback"`
	// AnswerAnyway is the share of readers holding something of the
	// category who answer although a neighbour has answered already ("I
	// have one too"); the others leave it to the first.
	AnswerAnyway float64 `json:"answer_anyway"`
	// BringWithoutReply is the share of answering neighbours who bring the
	// item at once to the floor the message names instead of waiting for
	// the asker's reply (two may bring the same thing).
	BringWithoutReply float64 `json:"bring_without_reply"`
	// RepostMinutes: an asker with no answer reposts after this long, in
	// the building's group and the community's.
	RepostMinutes float64 `json:"repost_minutes"`
	// HotlineAfterHours: an asker still without help after this long calls
	// the hotline themselves with probability CallHotlineShare.
	HotlineAfterHours float64 `json:"hotline_after_hours"`
	CallHotlineShare  float64 `json:"call_hotline_share"`
	// Advise120Share of the readers of an emergency's message tell the
	// asker to call 120.
	Advise120Share float64 `json:"advise_120_share"`
}

// Default returns the default scenario, grounded in context.md (Beijing,
// December 2022): one community of 1,000 households in 12 buildings of 18
// floors through 72 hours of the surge. The numbers are assumptions,
// chosen to be plausible rather than measured; docs/surge.md explains
// each and the sensitivity run shows which matter.
func Default() Scenario {
	return Scenario{
		Name:       "December 2022, one community, 72 hours",
		Start:      "2022-12-12T00:00:00+08:00",
		Hours:      72,
		Households: 1000,
		Buildings:  12,
		Floors:     18,
		Population: Population{
			ChildUnder6: 0.14, InfantShare: 0.2, NewbornShare: 0.15,
			ElderlyAlone: 0.08, ElderlyWithoutApp: 0.5,
			Pregnant: 0.02, Chronic: 0.1,
		},
		Epidemic: Epidemic{
			AlreadySick: 0.06, AttackRate: 0.26, PeakHour: 40, SpreadHours: 16, IllDays: 5,
			EmergencyShare: 0.03,
		},
		Needs: []NeedSpec{
			{Kind: "antigen_test", Item: "antigen-test", Name: "抗原", Quantity: 1, For: "household", Share: 0.35,
				DelayMinHours: 0, DelayMaxHours: 4, UrgentShare: 0, Note: "发烧了想测一下，求一个抗原"},
			{Kind: "fever_reducer_adult", Item: "ibuprofen-tablet", Name: "布洛芬", Quantity: 1, For: "household", Share: 0.35,
				DelayMinHours: 1, DelayMaxHours: 10, UrgentShare: 0.4, Note: "高烧39度，药店都卖空了，求布洛芬或对乙酰氨基酚"},
			{Kind: "fever_reducer_child", Item: "ibuprofen-suspension-child", Name: "美林", Quantity: 1, For: "child", Share: 0.6,
				DelayMinHours: 0, DelayMaxHours: 6, UrgentShare: 1, Note: "孩子发烧39度，外卖送不进来，急需儿童退烧药"},
			{Kind: "thermometer", Item: "thermometer-electronic", Name: "体温计", Quantity: 1, For: "household", Share: 0.12,
				DelayMinHours: 0, DelayMaxHours: 3, UrgentShare: 0, Note: "家里没有体温计"},
			{Kind: "cold_medicine", Item: "lianhua-qingwen-capsule", Name: "连花清瘟", Quantity: 1, For: "household", Share: 0.25,
				DelayMinHours: 24, DelayMaxHours: 48, UrgentShare: 0, Note: "咳嗽得厉害，求感冒药"},
			{Kind: "oximeter", Item: "pulse-oximeter", Name: "血氧仪", Quantity: 1, For: "elderly_alone", Share: 0.3,
				DelayMinHours: 24, DelayMaxHours: 60, UrgentShare: 1, Note: "老人独居，想借个血氧仪看看"},
		},
		Spares: []SpareSpec{
			{Item: "antigen-test", Name: "抗原", Share: 0.08, Min: 1, Max: 5},
			{Item: "ibuprofen-tablet", Name: "布洛芬片", Share: 0.06, Min: 1, Max: 2},
			{Item: "acetaminophen-tablet-tylenol", Name: "泰诺林", Share: 0.04, Min: 1, Max: 2},
			{Item: "ibuprofen-suspension-child", Name: "美林", Share: 0.12, ChildHouseholds: true, Min: 1, Max: 1},
			{Item: "acetaminophen-suspension-child", Name: "小儿对乙酰氨基酚", Share: 0.08, ChildHouseholds: true, Min: 1, Max: 1},
			{Item: "thermometer-electronic", Name: "体温计", Share: 0.06, Min: 1, Max: 1},
			{Item: "lianhua-qingwen-capsule", Name: "连花清瘟", Share: 0.06, Min: 1, Max: 2},
			{Item: "ganmaoling-999", Name: "999感冒灵", Share: 0.04, Min: 1, Max: 2},
			{Item: "pulse-oximeter", Name: "血氧仪", Share: 0.015, Min: 1, Max: 1},
		},
		WillingShare: 0.7,
		People: People{
			LookMinutes: 20, WaitingLookMinutes: 8,
			BedEarliest: "22:30", BedLatest: "01:30", WakeEarliest: "06:00", WakeLatest: "08:30",
			NightLookMinutes: 60,
			WalkSameMinutes:  8, WalkOtherMinutes: 15,
			SelfHelpHours: 36,
		},
		Volunteers: Volunteers{PerBuilding: 3, LookMinutes: 15},
		Staff:      Staff{OfficeOpens: "08:30", OfficeCloses: "17:30", LookMinutes: 30},
		Hotline:    Hotline{ResolveHours: 8},
		Linli:      LinliBehaviour{ProposeTimeoutMinutes: 30, GiversPropose: true, CourierWaitMinutes: 60, JobsEveryMinutes: 1},
		Chat: Chat{
			Scrollback: 40, AnswerAnyway: 0.25, BringWithoutReply: 0.3, RepostMinutes: 60,
			HotlineAfterHours: 6, CallHotlineShare: 0.3, Advise120Share: 0.2,
		},
	}
}

// Small returns a small scenario for tests: 40 households in 2 buildings
// over 12 daytime hours, with enough illness, emergencies and scarcity
// that deadlines pass, staff forward and the hotline closes cases.
func Small() Scenario {
	s := Default()
	s.Name = "small test community, 12 hours"
	s.Start = "2022-12-12T08:00:00+08:00"
	s.Hours, s.Households, s.Buildings, s.Floors = 12, 40, 2, 6
	s.Epidemic.AlreadySick, s.Epidemic.AttackRate, s.Epidemic.PeakHour, s.Epidemic.SpreadHours = 0.2, 0.5, 4, 3
	s.Epidemic.EmergencyShare = 0.15
	s.Population.ChildUnder6, s.Population.ElderlyAlone = 0.25, 0.15
	s.Volunteers.PerBuilding = 2
	s.Hotline.ResolveHours = 2
	return s
}

// Load reads a scenario file over the defaults: fields the file leaves
// out keep their default values (a list given replaces the default list).
//
// Errors: the file cannot be read, is not JSON of this shape (unknown
// fields are refused, to catch typos), or the scenario is invalid.
func Load(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, err
	}
	sc := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("scenario %s: %w", path, err)
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, fmt.Errorf("scenario %s: %w", path, err)
	}
	return sc, nil
}

// JSON returns the scenario as indented JSON, as a scenario file holds it.
func (s Scenario) JSON() []byte {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return append(b, '\n')
}

// Validate checks the scenario's ranges and catalog codes.
func (s Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := time.Parse(time.RFC3339, s.Start); err != nil {
		bad("start: %v", err)
	}
	if s.Hours < 1 || s.Hours > 24*30 {
		bad("hours: %d, want 1 to 720", s.Hours)
	}
	if s.Households < 2 || s.Households > 20000 {
		bad("households: %d, want 2 to 20000", s.Households)
	}
	if s.Buildings < 1 || s.Buildings > s.Households || s.Floors < 1 || s.Floors > 200 {
		bad("buildings %d, floors %d: want 1 to households, and 1 to 200", s.Buildings, s.Floors)
	}
	shares := map[string]float64{
		"population.child_under_6": s.Population.ChildUnder6, "population.infant_share": s.Population.InfantShare,
		"population.newborn_share": s.Population.NewbornShare, "population.elderly_alone": s.Population.ElderlyAlone,
		"population.elderly_without_app": s.Population.ElderlyWithoutApp, "population.pregnant": s.Population.Pregnant,
		"population.chronic": s.Population.Chronic, "epidemic.already_sick": s.Epidemic.AlreadySick,
		"epidemic.attack_rate": s.Epidemic.AttackRate, "epidemic.emergency_share": s.Epidemic.EmergencyShare,
		"willing_share": s.WillingShare, "chat.bring_without_reply": s.Chat.BringWithoutReply, "chat.answer_anyway": s.Chat.AnswerAnyway,
		"chat.call_hotline_share": s.Chat.CallHotlineShare, "chat.advise_120_share": s.Chat.Advise120Share,
	}
	for name, v := range shares {
		if v < 0 || v > 1 {
			bad("%s: %v, want 0 to 1", name, v)
		}
	}
	if s.Population.ChildUnder6+s.Population.ElderlyAlone > 1 {
		bad("population: child_under_6 + elderly_alone above 1")
	}
	if s.Epidemic.AlreadySick+s.Epidemic.AttackRate > 1 {
		bad("epidemic: already_sick + attack_rate above 1")
	}
	positive := map[string]float64{
		"epidemic.spread_hours": s.Epidemic.SpreadHours, "epidemic.ill_days": s.Epidemic.IllDays,
		"people.look_minutes": s.People.LookMinutes, "people.waiting_look_minutes": s.People.WaitingLookMinutes,
		"people.night_look_minutes": s.People.NightLookMinutes, "people.walk_same_minutes": s.People.WalkSameMinutes,
		"people.walk_other_minutes": s.People.WalkOtherMinutes, "people.self_help_hours": s.People.SelfHelpHours,
		"volunteers.look_minutes": s.Volunteers.LookMinutes, "staff.look_minutes": s.Staff.LookMinutes,
		"hotline.resolve_hours": s.Hotline.ResolveHours, "linli.propose_timeout_minutes": s.Linli.ProposeTimeoutMinutes,
		"linli.jobs_every_minutes": s.Linli.JobsEveryMinutes, "linli.courier_wait_minutes": s.Linli.CourierWaitMinutes, "chat.repost_minutes": s.Chat.RepostMinutes,
		"chat.hotline_after_hours": s.Chat.HotlineAfterHours,
	}
	for name, v := range positive {
		if !(v > 0) {
			bad("%s: %v, want > 0", name, v)
		}
	}
	if s.Chat.Scrollback < 1 {
		bad("chat.scrollback: %d, want ≥ 1", s.Chat.Scrollback)
	}
	if s.Volunteers.PerBuilding < 0 {
		bad("volunteers.per_building: %d, want ≥ 0", s.Volunteers.PerBuilding)
	}
	for name, v := range map[string]string{
		"people.bed_earliest": s.People.BedEarliest, "people.bed_latest": s.People.BedLatest,
		"people.wake_earliest": s.People.WakeEarliest, "people.wake_latest": s.People.WakeLatest,
		"staff.office_opens": s.Staff.OfficeOpens, "staff.office_closes": s.Staff.OfficeCloses,
	} {
		if _, err := clockMinutes(v); err != nil {
			bad("%s: %v", name, err)
		}
	}
	cat := catalog.Default()
	kinds := map[string]bool{}
	for i, n := range s.Needs {
		it, ok := cat.Item(n.Item)
		switch {
		case n.Kind == "" || kinds[n.Kind]:
			bad("needs[%d].kind: %q empty or repeated", i, n.Kind)
		case !ok:
			bad("needs[%d].item: %q is not in the catalog", i, n.Item)
		case it.Prescription:
			bad("needs[%d].item: %q is a prescription medicine", i, n.Item)
		case n.For != "household" && n.For != "child" && n.For != "elderly_alone":
			bad("needs[%d].for: %q, want household, child or elderly_alone", i, n.For)
		case n.Share < 0 || n.Share > 1 || n.UrgentShare < 0 || n.UrgentShare > 1:
			bad("needs[%d]: share and urgent_share must be 0 to 1", i)
		case n.Quantity < 1 || n.Quantity > 20:
			bad("needs[%d].quantity: %d, want 1 to 20", i, n.Quantity)
		case n.DelayMinHours < 0 || n.DelayMaxHours < n.DelayMinHours:
			bad("needs[%d]: want 0 ≤ delay_min_hours ≤ delay_max_hours", i)
		case n.Name == "":
			bad("needs[%d].name: empty", i)
		}
		kinds[n.Kind] = true
	}
	for i, sp := range s.Spares {
		it, ok := cat.Item(sp.Item)
		switch {
		case !ok:
			bad("spares[%d].item: %q is not in the catalog", i, sp.Item)
		case it.Prescription:
			bad("spares[%d].item: %q is a prescription medicine: it cannot be offered", i, sp.Item)
		case sp.Share < 0 || sp.Share > 1:
			bad("spares[%d].share: %v, want 0 to 1", i, sp.Share)
		case sp.Min < 1 || sp.Max < sp.Min || sp.Max > 100:
			bad("spares[%d]: want 1 ≤ min ≤ max ≤ 100", i)
		case sp.Name == "":
			bad("spares[%d].name: empty", i)
		}
	}
	return errors.Join(errs...)
}

// clockMinutes reads "HH:MM" as minutes after midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
