package surge

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/linli/linli/mutualaid/catalog"
)

// chatRun plays the same population through chat groups, the way people
// asked for help in December 2022: a request is a message in the
// building's group (and, reposted, the community's); neighbours who see
// it and hold anything of its category answer; the asker takes the first
// answer that fits. Nothing is reserved (two may bring the same thing),
// nothing is ranked (a message is buried under newer ones), nothing has a
// deadline (an asker may call the hotline after some hours). It is a model
// of people, not of linli: no linli code runs here.
type chatRun struct {
	pop   *population
	sc    *Scenario
	clock *Clock
	loop  *loop
	cat   *catalog.Catalog

	rngs     []*rand.Rand // per household
	relayRng *rand.Rand
	stock    []map[string]int // per household: item → what they still hold to give
	promised []map[string]int // per household: item → promised in answers awaiting a reply
	groups   map[int]*chatGroup
	all      *chatGroup // the community's group
	asks     []*chatAsk // by need index
	recs     []*NeedRecord
	selfHelp []time.Duration
}

// chatGroup is a group's message times, oldest first.
type chatGroup struct {
	members []int // household indexes (with the app)
	times   []time.Duration
}

// after counts the messages posted after t up to now.
func (g *chatGroup) after(t time.Duration) int {
	i := sort.Search(len(g.times), func(i int) bool { return g.times[i] > t })
	return len(g.times) - i
}

func (g *chatGroup) post(t time.Duration) { g.times = append(g.times, t) }

// chatAsk is a need as a chat message thread.
type chatAsk struct {
	n        *need
	asker    *household // who reads the answers: the household, or the relay volunteer (nil: staff)
	state    int        // askOpen, askTaken (someone is bringing it), askDone
	answers  []chatAnswer
	reposts  int
	looking  bool // the asker's next look is scheduled
	arrivals []chatArrival
}

const (
	askOpen = iota
	askTaken
	askDone
)

type chatAnswer struct {
	from    int // household
	item    string
	at      time.Duration
	handled bool
}

type chatArrival struct {
	item string
	at   time.Duration
}

func newChatRun(pop *population, clock *Clock, seed uint64) *chatRun {
	c := &chatRun{pop: pop, sc: pop.sc, clock: clock, loop: &loop{clock: clock}, cat: catalog.Default(),
		groups: map[int]*chatGroup{}, all: &chatGroup{}, relayRng: rand.New(rand.NewPCG(seed, 0x636861))}
	for _, h := range pop.households {
		c.rngs = append(c.rngs, rand.New(rand.NewPCG(seed, uint64(h.idx)<<8|2)))
		st := map[string]int{}
		if h.willing {
			for _, s := range h.spares {
				st[s.item] += s.qty
			}
		}
		c.stock = append(c.stock, st)
		c.promised = append(c.promised, map[string]int{})
		if h.withoutApp {
			continue
		}
		g := c.groups[h.building]
		if g == nil {
			g = &chatGroup{}
			c.groups[h.building] = g
		}
		g.members = append(g.members, h.idx)
		c.all.members = append(c.all.members, h.idx)
	}
	return c
}

func (c *chatRun) now() time.Duration { return c.clock.since() }

// schedule puts each need's first message on the loop.
func (c *chatRun) schedule() {
	for _, n := range c.pop.needs {
		a := &chatAsk{n: n, asker: n.hh}
		at := n.post
		if n.relayed {
			at = n.relayAt
			a.asker = nil
			if n.relayVol >= 0 {
				a.asker = c.pop.households[n.relayVol]
			}
		}
		c.asks = append(c.asks, a)
		c.recs = append(c.recs, newRecord(PolicyChat, n))
		c.selfHelp = append(c.selfHelp, never)
		c.loop.at(at, func() { c.postAsk(a, false) })
		c.loop.at(n.selfHelp, func() {
			if a.state == askOpen {
				a.state = askDone
				c.selfHelp[n.idx] = c.now()
			}
		})
		c.loop.at(n.post+time.Duration(c.sc.Chat.HotlineAfterHours*float64(time.Hour)), func() { c.maybeCallHotline(a) })
	}
}

// postAsk posts (or reposts, to the building's group and the
// community's) the need's message, and lets each neighbour who could
// answer read it at their next look.
func (c *chatRun) postAsk(a *chatAsk, repost bool) {
	if a.state != askOpen {
		return
	}
	now := c.now()
	b := a.n.hh.building
	targets := []*chatGroup{c.groups[b]}
	if repost {
		targets = append(targets, c.all)
	}
	cat := category(a.n.item)
	for gi, g := range targets {
		if g == nil {
			continue
		}
		g.post(now)
		for _, m := range g.members {
			if m == a.n.hh.idx || (gi == 1 && c.pop.households[m].building == b) {
				continue // the asker; the building's members read it in their own group
			}
			canGive := false
			for item, q := range c.stock[m] {
				if q > 0 && category(item) == cat {
					canGive = true
				}
			}
			if !canGive && !a.n.emergency {
				continue // reading it changes nothing
			}
			h := c.pop.households[m]
			at := c.pop.nextLook(c.rngs[m], h, now, c.sc.People.LookMinutes, 0)
			c.loop.at(at, func() { c.read(a, g, now, m) })
		}
	}
	c.askerLooks(a)
	if a.reposts < 6 {
		c.loop.at(now+time.Duration(c.sc.Chat.RepostMinutes*float64(time.Minute)), func() {
			if a.state != askOpen {
				return
			}
			// The asker reposts when next on their phone.
			at := c.askerNextLook(a, c.now())
			c.loop.at(at, func() {
				a.reposts++
				c.postAsk(a, true)
			})
		})
	}
}

// read: neighbour m looks at group g and may find a's message posted at
// t, unless newer messages buried it.
func (c *chatRun) read(a *chatAsk, g *chatGroup, t time.Duration, m int) {
	if g.after(t) > c.sc.Chat.Scrollback || a.state == askDone {
		return
	}
	rng := c.rngs[m]
	rec := c.recs[a.n.idx]
	if a.n.emergency && rec.Guided120 < 0 && rng.Float64() < c.sc.Chat.Advise120Share {
		rec.Guided120 = c.now()
		g.post(c.now())
	}
	if a.state != askOpen {
		return // "someone is bringing it already"
	}
	cat := category(a.n.item)
	for _, item := range sortedKeys(c.stock[m]) {
		if c.stock[m][item]-c.promised[m][item] <= 0 || category(item) != cat {
			continue
		}
		for _, ans := range a.answers {
			if ans.from == m {
				return // answered already
			}
		}
		if len(a.answers) > 0 && rng.Float64() >= c.sc.Chat.AnswerAnyway {
			return // a neighbour has answered: leave it to them
		}
		g.post(c.now())
		if rng.Float64() < c.sc.Chat.BringWithoutReply {
			// "I'll bring it to your floor": on their way at once.
			c.stock[m][item]--
			a.answers = append(a.answers, chatAnswer{from: m, item: item, at: c.now(), handled: true})
			c.deliver(a, m, item)
			return
		}
		c.promised[m][item]++
		a.answers = append(a.answers, chatAnswer{from: m, item: item, at: c.now()})
		c.askerLooks(a)
		return
	}
}

// deliver: neighbour m walks item over to the asker's door.
func (c *chatRun) deliver(a *chatAsk, m int, item string) {
	walk := c.sc.People.WalkSameMinutes
	if c.pop.households[m].building != a.n.hh.building {
		walk = c.sc.People.WalkOtherMinutes
	}
	c.loop.at(c.now()+walkDuration(c.rngs[m], walk), func() {
		if a.state == askDone {
			c.recs[a.n.idx].Extra++ // nobody needs it any more
			return
		}
		a.arrivals = append(a.arrivals, chatArrival{item: item, at: c.now()})
		c.askerLooks(a)
	})
}

// askerNextLook is when whoever reads a's answers next looks.
func (c *chatRun) askerNextLook(a *chatAsk, t time.Duration) time.Duration {
	if a.asker == nil { // staff, in office hours
		next := t + expDuration(c.relayRng, c.sc.Staff.LookMinutes)
		return c.pop.nextOffice(next)
	}
	night := 0.0
	if a.n.urgent || a.n.emergency || a.n.forWhom.GetAgeMonths() > 0 {
		night = c.sc.People.NightLookMinutes
	}
	return c.pop.nextLook(c.rngs[a.asker.idx], a.asker, t, c.sc.People.WaitingLookMinutes, night)
}

// askerLooks makes sure the asker's next look is scheduled while they
// wait for answers or arrivals.
func (c *chatRun) askerLooks(a *chatAsk) {
	if a.looking || a.state == askDone {
		return
	}
	a.looking = true
	c.loop.at(c.askerNextLook(a, c.now()), func() {
		a.looking = false
		c.askerLook(a)
	})
}

// askerLook: the asker takes in what arrived, answers the answers (the
// first that fits is taken: "yes please, 3号楼1502"; the others are
// thanked off), and keeps looking while something is pending.
func (c *chatRun) askerLook(a *chatAsk) {
	rec := c.recs[a.n.idx]
	now := c.now()
	for _, ar := range a.arrivals {
		if c.fits(a.n, ar.item) && rec.Neighbour < 0 && c.selfHelp[a.n.idx] < 0 {
			rec.Neighbour = now // picked up from the door at this look
			a.state = askDone
		} else {
			rec.Extra++
		}
	}
	a.arrivals = nil
	g := c.groups[a.n.hh.building]
	for i := range a.answers {
		ans := &a.answers[i]
		if ans.handled {
			continue
		}
		ans.handled = true
		m := ans.from
		c.promised[m][ans.item]--
		if g != nil {
			g.post(now)
		}
		if a.state != askOpen || !c.fits(a.n, ans.item) {
			continue // "thanks, no need any more" / "not for a child"
		}
		a.state = askTaken
		// The answerer sees the reply at their next look and brings it.
		h := c.pop.households[m]
		at := c.pop.nextLook(c.rngs[m], h, now, c.sc.People.WaitingLookMinutes, 0)
		item := ans.item
		c.loop.at(at, func() {
			if c.stock[m][item] <= 0 {
				// Given away meanwhile to another asker: "sorry, gone".
				a.state = askOpen
				c.postAsk(a, true)
				return
			}
			c.stock[m][item]--
			c.deliver(a, m, item)
		})
	}
	pending := len(a.arrivals) > 0 || a.state == askTaken
	for _, ans := range a.answers {
		pending = pending || !ans.handled
	}
	if pending && a.state != askDone {
		c.askerLooks(a)
	}
}

// fits is the asker's judgement of whether an item meets their need: the
// same item, or one of its category that suits whom it is for (a parent
// knows adult tablets are not for a toddler).
func (c *chatRun) fits(n *need, item string) bool {
	req, ok1 := c.cat.Item(n.item)
	off, ok2 := c.cat.Item(item)
	if !ok1 || !ok2 {
		return n.item == item
	}
	ok, _ := catalog.Fits(req, off, int(n.forWhom.GetAgeMonths()))
	return ok
}

// maybeCallHotline: an asker still without help after some hours may call
// the hotline themselves; it closes the case after its usual time.
func (c *chatRun) maybeCallHotline(a *chatAsk) {
	rec := c.recs[a.n.idx]
	if a.state != askOpen || rec.CaseAt >= 0 {
		return
	}
	rng := c.relayRng
	if a.asker != nil {
		rng = c.rngs[a.asker.idx]
	}
	if rng.Float64() >= c.sc.Chat.CallHotlineShare {
		return
	}
	at := c.now()
	if a.asker != nil {
		at = c.pop.nextWake(a.asker, at)
	}
	rec.CaseAt = at
	rec.ClosedAt = at + time.Duration(c.sc.Hotline.ResolveHours*float64(time.Hour))
}

// finish settles every record.
func (c *chatRun) finish(end time.Duration) {
	for i, rec := range c.recs {
		settle(rec, c.selfHelp[i], end)
	}
}
