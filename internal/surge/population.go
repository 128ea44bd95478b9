package surge

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// household is one flat and the people in it, as the scenario drew them.
// Both policies play the same households.
type household struct {
	idx      int
	id       string // "h0001"
	name     string // display name
	building int    // 0-based
	floor    int
	unit     string // "1502"

	child          bool
	childAgeMonths int
	elderlyAlone   bool
	withoutApp     bool // elderly without a smartphone app
	pregnant       bool
	chronic        bool

	ill       bool
	illAt     time.Duration // since the start; negative: before it
	bedMin    int           // minute of the day they go to bed
	wakeMin   int           // and wake up
	willing   bool          // gives spares to neighbours
	spares    []spare
	volunteer bool
}

// spare is something a household holds beyond its own needs.
type spare struct {
	item, name string
	qty        int
	expiry     string // "YYYY-MM-DD" for medicines, else ""
}

// need is one thing a household asks for.
type need struct {
	idx       int
	id        string // the request's post id: "n0001"
	hh        *household
	kind      string
	item      string
	name      string
	qty       int
	urgent    bool
	emergency bool // the truth: a neighbour cannot help, 120 must
	note      string
	forWhom   *linliv1.ForWhom

	arises time.Duration // when the household finds it lacks it
	post   time.Duration // when the request is posted (or the relay phoned)
	// For a household without the app: who posts it for them, and when.
	relayed  bool
	relayVol int // index of the volunteer household, or -1 for staff
	relayAt  time.Duration
	// selfHelp is when the need is met some other way, if still unmet.
	selfHelp time.Duration
}

// population is everything drawn from the scenario and the seed that
// both policies share.
type population struct {
	sc         *Scenario
	seed       uint64
	start      time.Time
	startMin   int // minute of the day of the start
	households []*household
	needs      []*need // in order of posting (then index)
	volunteers [][]int // per building, household indexes
	bedMin     [2]int
	wakeMin    [2]int
	officeOpen int
	officeShut int
}

const (
	day          = 24 * time.Hour
	minutesInDay = 24 * 60
)

// surnames for display names.
var surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
var givenNames = []string{"芳", "伟", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "玉兰", "志强", "海燕", "晓东", "丹"}

// newPopulation draws the households and their needs from the scenario
// and the seed.
func newPopulation(sc *Scenario, seed uint64) (*population, error) {
	start, err := time.Parse(time.RFC3339, sc.Start)
	if err != nil {
		return nil, err
	}
	p := &population{sc: sc, start: start, startMin: start.Hour()*60 + start.Minute()}
	p.bedMin[0], _ = clockMinutes(sc.People.BedEarliest)
	p.bedMin[1], _ = clockMinutes(sc.People.BedLatest)
	p.wakeMin[0], _ = clockMinutes(sc.People.WakeEarliest)
	p.wakeMin[1], _ = clockMinutes(sc.People.WakeLatest)
	p.officeOpen, _ = clockMinutes(sc.Staff.OfficeOpens)
	p.officeShut, _ = clockMinutes(sc.Staff.OfficeCloses)
	p.seed = seed
	p.drawHouseholds()
	p.drawVolunteers()
	p.drawNeeds()
	return p, nil
}

// What a draw is for: each household draws each from a stream of its
// own, so that changing one assumption (more spares, more illness) leaves
// the other draws as they were and a sensitivity run compares like with
// like.
const (
	streamPeople = iota + 1
	streamIllness
	streamSpares
	streamVolunteers
	streamNeeds
)

// stream is the random stream of draw kind for household (or building) i.
func (p *population) stream(i, kind int) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed, uint64(i)<<8|uint64(kind)<<4|0x3))
}

func (p *population) drawHouseholds() {
	sc := p.sc
	pop := sc.Population
	n := sc.Households
	perBuilding := (n + sc.Buildings - 1) / sc.Buildings
	perFloor := max(1, (perBuilding+sc.Floors-1)/sc.Floors)
	hours := time.Duration(sc.Hours) * time.Hour
	for i := range n {
		rng := p.stream(i, streamPeople)
		b := i / perBuilding
		k := i % perBuilding
		floor := 1 + k/perFloor
		h := &household{
			idx: i, id: fmt.Sprintf("h%04d", i), building: b, floor: floor,
			unit: fmt.Sprintf("%d%02d", floor, 1+k%perFloor),
			name: string(surnames[rng.IntN(len(surnames))]) + givenNames[rng.IntN(len(givenNames))],
		}
		r := rng.Float64()
		switch {
		case r < pop.ChildUnder6:
			h.child = true
			switch {
			case rng.Float64() >= pop.InfantShare:
				h.childAgeMonths = 12 + rng.IntN(60)
			case rng.Float64() < pop.NewbornShare:
				h.childAgeMonths = 1 + rng.IntN(2)
			default:
				h.childAgeMonths = 3 + rng.IntN(9)
			}
		case r < pop.ChildUnder6+pop.ElderlyAlone:
			h.elderlyAlone = true
			h.withoutApp = rng.Float64() < pop.ElderlyWithoutApp
		}
		h.pregnant = !h.elderlyAlone && rng.Float64() < pop.Pregnant
		h.chronic = rng.Float64() < pop.Chronic
		// Sleep: bed and wake uniformly in their windows.
		h.bedMin = uniformClock(rng, p.bedMin[0], p.bedMin[1])
		h.wakeMin = uniformClock(rng, p.wakeMin[0], p.wakeMin[1])
		// Illness.
		rng = p.stream(i, streamIllness)
		r = rng.Float64()
		switch {
		case r < sc.Epidemic.AlreadySick:
			h.ill, h.illAt = true, -time.Duration(rng.Float64()*float64(day))
		case r < sc.Epidemic.AlreadySick+sc.Epidemic.AttackRate:
			h.ill, h.illAt = true, bellTime(rng, sc.Epidemic.PeakHour, sc.Epidemic.SpreadHours, hours)
		}
		// Spares: every draw is made whether or not the household holds
		// the item, so that a larger share adds holders and keeps the rest.
		rng = p.stream(i, streamSpares)
		for _, sp := range sc.Spares {
			u, q, months, days := rng.Float64(), rng.IntN(sp.Max-sp.Min+1), rng.IntN(24), rng.IntN(28)
			if (sp.ChildHouseholds && !h.child) || u >= sp.Share {
				continue
			}
			s := spare{item: sp.Item, name: sp.Name, qty: sp.Min + q}
			if isMedicine(sp.Item) {
				// Good for between 1 and 24 months more.
				s.expiry = p.start.AddDate(0, 1+months, days).Format(time.DateOnly)
			}
			h.spares = append(h.spares, s)
		}
		h.willing = rng.Float64() < sc.WillingShare
		p.households = append(p.households, h)
	}
}

// drawVolunteers picks PerBuilding volunteers in each building among its
// adults with the app (not elderly living alone), healthy at the start.
func (p *population) drawVolunteers() {
	p.volunteers = make([][]int, p.sc.Buildings)
	for b := range p.sc.Buildings {
		rng := p.stream(b, streamVolunteers)
		var cand []int
		for _, h := range p.households {
			if h.building == b && !h.elderlyAlone && !(h.ill && h.illAt <= 0) {
				cand = append(cand, h.idx)
			}
		}
		rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		cand = cand[:min(len(cand), p.sc.Volunteers.PerBuilding)]
		slices.Sort(cand)
		for _, i := range cand {
			p.households[i].volunteer = true
		}
		p.volunteers[b] = cand
	}
}

// drawNeeds draws what each ill household lacks, when it finds out and
// when it asks.
func (p *population) drawNeeds() {
	sc := p.sc
	end := time.Duration(sc.Hours) * time.Hour
	for _, h := range p.households {
		if !h.ill {
			continue
		}
		rng := p.stream(h.idx, streamNeeds)
		var mine []*need
		if rng.Float64() < sc.Epidemic.EmergencyShare {
			mine = append(mine, p.emergencyNeed(rng, h))
		}
		childIll := h.child && rng.Float64() < 0.7
		for i := range sc.Needs {
			spec := &sc.Needs[i]
			switch spec.For {
			case "child":
				if !childIll {
					continue
				}
			case "elderly_alone":
				if !h.elderlyAlone {
					continue
				}
			}
			if rng.Float64() >= spec.Share {
				continue
			}
			delay := spec.DelayMinHours + rng.Float64()*(spec.DelayMaxHours-spec.DelayMinHours)
			n := &need{
				hh: h, kind: spec.Kind, item: spec.Item, name: spec.Name, qty: spec.Quantity,
				urgent: rng.Float64() < spec.UrgentShare, note: spec.Note,
				arises: h.illAt + time.Duration(delay*float64(time.Hour)),
			}
			n.forWhom = p.forWhom(rng, h, spec.For == "child")
			if spec.For == "child" && h.childAgeMonths < 6 {
				// Too young for ibuprofen: parents ask for infant
				// acetaminophen drops.
				n.item, n.name = "acetaminophen-drops-infant", "小儿对乙酰氨基酚滴剂"
			}
			if spec.For == "child" && h.childAgeMonths < 3 {
				// A fever under three months is an emergency.
				n.emergency = true
				n.note = fmt.Sprintf("宝宝%d个月大，发烧38.5度，退烧药买不到", h.childAgeMonths)
			}
			mine = append(mine, n)
		}
		for _, n := range mine {
			if n.arises < 0 || n.arises >= end {
				continue
			}
			n.post = p.postTime(rng, n)
			if n.post >= end {
				continue
			}
			if h.withoutApp {
				n.relayed = true
				n.relayVol, n.relayAt = p.relay(rng, n)
				if n.relayAt >= end {
					continue
				}
			}
			n.selfHelp = n.post + expDuration(rng, sc.People.SelfHelpHours*60)
			p.needs = append(p.needs, n)
		}
	}
	slices.SortStableFunc(p.needs, func(a, b *need) int {
		return int(a.post - b.post)
	})
	for i, n := range p.needs {
		n.idx, n.id = i, fmt.Sprintf("n%04d", i)
	}
}

// emergencyNeed is the need of a household with an emergency: its text
// shows the signs (for a newborn, fever; for others, breathing).
func (p *population) emergencyNeed(rng *rand.Rand, h *household) *need {
	n := &need{hh: h, kind: "emergency", qty: 1, emergency: true, urgent: true,
		arises: h.illAt + time.Duration(rng.Float64()*12*float64(time.Hour))}
	switch {
	case h.child && h.childAgeMonths < 3:
		n.item, n.name = "acetaminophen-drops-infant", "小儿对乙酰氨基酚滴剂"
		n.note = fmt.Sprintf("宝宝%d个月大，发烧38.5度，怎么办", h.childAgeMonths)
		n.forWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_INFANT, AgeMonths: uint32(h.childAgeMonths)}
	case h.elderlyAlone:
		n.item, n.name = "pulse-oximeter", "血氧仪"
		n.note = "老人发烧三天，现在呼吸困难，嘴唇发紫，求血氧仪"
		n.forWhom = &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_ELDERLY, LivesAlone: true}
	default:
		n.item, n.name = "pulse-oximeter", "血氧仪"
		n.note = "家人高烧后呼吸困难，胸口疼，求血氧仪"
		n.forWhom = p.forWhom(rng, h, false)
	}
	return n
}

// forWhom is whom a need is for.
func (p *population) forWhom(rng *rand.Rand, h *household, child bool) *linliv1.ForWhom {
	switch {
	case child && h.childAgeMonths < 12:
		return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_INFANT, AgeMonths: uint32(h.childAgeMonths)}
	case child:
		return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHILD, AgeMonths: uint32(h.childAgeMonths)}
	case h.elderlyAlone:
		return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_ELDERLY, LivesAlone: true}
	case h.pregnant && rng.Float64() < 0.5:
		return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_PREGNANT}
	case h.chronic:
		return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_CHRONIC_ILLNESS}
	}
	return &linliv1.ForWhom{Recipient: linliv1.Recipient_RECIPIENT_SELF}
}

// postTime is when a need is posted: at once if the household is awake
// or up at night with it (a sick child, an emergency, an urgent need),
// else when they wake up, within the hour.
func (p *population) postTime(rng *rand.Rand, n *need) time.Duration {
	if p.awake(n.hh, n.arises) || n.emergency || n.urgent {
		return n.arises
	}
	return p.nextWake(n.hh, n.arises) + time.Duration(rng.Float64()*float64(time.Hour))
}

// relay is who posts for a household without the app and when: a
// volunteer of its building who is awake and well when they phone,
// within a few minutes; else community staff, in their next office hours.
func (p *population) relay(rng *rand.Rand, n *need) (vol int, at time.Duration) {
	for _, v := range p.volunteers[n.hh.building] {
		if vh := p.households[v]; p.awake(vh, n.post) && !p.illAt(vh, n.post) {
			return v, n.post + expDuration(rng, 10)
		}
	}
	return -1, p.nextOffice(n.post) + expDuration(rng, p.sc.Staff.LookMinutes)
}

// minuteOfDay is the minute of the day at t since the start.
func (p *population) minuteOfDay(t time.Duration) int {
	m := (p.startMin + int(t/time.Minute)) % minutesInDay
	if m < 0 {
		m += minutesInDay
	}
	return m
}

// asleepAt reports whether minute m of the day is in h's night.
func asleepAt(h *household, m int) bool {
	if h.bedMin > h.wakeMin { // to bed before midnight
		return m >= h.bedMin || m < h.wakeMin
	}
	return m >= h.bedMin && m < h.wakeMin
}

// awake reports whether h is awake at t.
func (p *population) awake(h *household, t time.Duration) bool {
	return !asleepAt(h, p.minuteOfDay(t))
}

// nextWake is t if h is awake at t, else when they wake up.
func (p *population) nextWake(h *household, t time.Duration) time.Duration {
	m := p.minuteOfDay(t)
	if !asleepAt(h, m) {
		return t
	}
	wait := (h.wakeMin - m + minutesInDay) % minutesInDay
	return t.Truncate(time.Minute) + time.Duration(wait)*time.Minute
}

// nextSleep is when h next goes to bed after t (h awake at t).
func (p *population) nextSleep(h *household, t time.Duration) time.Duration {
	m := p.minuteOfDay(t)
	wait := (h.bedMin - m + minutesInDay) % minutesInDay
	return t.Truncate(time.Minute) + time.Duration(wait)*time.Minute
}

// illAt reports whether h is ill at t.
func (p *population) illAt(h *household, t time.Duration) bool {
	return h.ill && h.illAt <= t && t < h.illAt+time.Duration(p.sc.Epidemic.IllDays*float64(day))
}

// inOffice reports whether staff are at work at t.
func (p *population) inOffice(t time.Duration) bool {
	m := p.minuteOfDay(t)
	return m >= p.officeOpen && m < p.officeShut
}

// nextOffice is t in office hours, else the next opening.
func (p *population) nextOffice(t time.Duration) time.Duration {
	if p.inOffice(t) {
		return t
	}
	m := p.minuteOfDay(t)
	wait := (p.officeOpen - m + minutesInDay) % minutesInDay
	return t.Truncate(time.Minute) + time.Duration(wait)*time.Minute
}

// nextLook is when someone who looks at their phone every mean minutes
// while awake (and every night minutes at night if up at night; night 0:
// they sleep) next looks after t.
func (p *population) nextLook(rng *rand.Rand, h *household, t time.Duration, mean, night float64) time.Duration {
	if !p.awake(h, t) {
		if night > 0 {
			next := t + expDuration(rng, night)
			if w := p.nextWake(h, t); next <= w {
				return next
			}
		}
		return p.nextWake(h, t) + expDuration(rng, mean)
	}
	next := t + expDuration(rng, mean)
	if bed := p.nextSleep(h, t); next >= bed {
		if night > 0 {
			return next
		}
		return p.nextWake(h, bed) + expDuration(rng, mean)
	}
	return next
}

// expDuration draws an exponential duration with the given mean in
// minutes, at least a second.
func expDuration(rng *rand.Rand, meanMinutes float64) time.Duration {
	return max(time.Second, time.Duration(rng.ExpFloat64()*meanMinutes*float64(time.Minute)).Round(time.Second))
}

// uniformDuration draws uniformly from half of max to max minutes.
func walkDuration(rng *rand.Rand, maxMinutes float64) time.Duration {
	return time.Duration((0.5 + 0.5*rng.Float64()) * maxMinutes * float64(time.Minute)).Round(time.Second)
}

// uniformClock draws a minute of the day between lo and hi, wrapping
// midnight when hi < lo.
func uniformClock(rng *rand.Rand, lo, hi int) int {
	span := (hi - lo + minutesInDay) % minutesInDay
	return (lo + rng.IntN(span+1)) % minutesInDay
}

// bellTime draws a time in [0, end) from a normal curve.
func bellTime(rng *rand.Rand, peakHour, spreadHours float64, end time.Duration) time.Duration {
	for range 100 {
		h := peakHour + rng.NormFloat64()*spreadHours
		if t := time.Duration(h * float64(time.Hour)); t >= 0 && t < end {
			return t
		}
	}
	return time.Duration(math.Min(math.Max(peakHour, 0), float64(end/time.Hour)-1) * float64(time.Hour))
}

// sickShare is the share of households ill at t.
func (p *population) sickShare(t time.Duration) float64 {
	n := 0
	for _, h := range p.households {
		if p.illAt(h, t) {
			n++
		}
	}
	return float64(n) / float64(len(p.households))
}
