package triage

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sign codes reported in Verdict.Signs, in this order. They are machine
// readable and stored with posts: never rename or reuse one.
const (
	SignDifficultyBreathing = "difficulty_breathing" // 呼吸困难, can't breathe, short of breath
	SignBlueLips            = "blue_lips"            // 嘴唇发紫, 发绀, cyanosis
	SignLowOxygen           = "low_oxygen"           // 血氧 / SpO2 reading from 50 to below 93
	SignChestPain           = "chest_pain"           // 胸痛, 胸口疼, chest pain
	SignUnconscious         = "unconscious"          // 昏迷, 晕倒, 叫不醒, passed out
	SignConvulsions         = "convulsions"          // 抽搐, 惊厥, seizure
	SignStroke              = "stroke"               // 口角歪斜, slurred speech, one side weak
	SignCoughingBlood       = "coughing_blood"       // 咳血, coughing up blood
	SignVomitingBlood       = "vomiting_blood"       // 吐血, vomiting blood
	SignInfantFever         = "infant_fever"         // fever (or ≥38 °C) in a baby under three months
	SignFeverStiffNeck      = "fever_stiff_neck"     // fever together with a stiff neck
	SignInfantDehydration   = "infant_dehydration"   // a baby or small child with no urine for ≥8 hours
)

// Verdict is the verdict on a post's text.
//
// Emergency is true exactly when Signs is non-empty; AdviceZH and AdviceEN
// are set exactly when Emergency is true.
type Verdict struct {
	Emergency bool
	// Signs are the Sign* codes found, each once, in the order of the Sign*
	// constants; nil when none.
	Signs []string
	// AdviceZH and AdviceEN tell the person, in Chinese and in English, to
	// call 120 now, what to say first (address, who, the symptoms found) and
	// that neighbours cannot help with this.
	AdviceZH, AdviceEN string
}

// Assess looks for emergency signs in a post's texts (note plus item names),
// in Chinese and English, and uses the age of the person the post is for
// (ageMonths, 0 = unknown/adult; ageMonths 1 or 2 is a baby under three months).
//
// Matching is case-insensitive, folds full-width ASCII, and ignores spacing
// inside Chinese phrases ("呼 吸 困 难") and between English words
// ("chest-pain"). A sign right after a simple negation in the same clause
// ("没有呼吸困难", "no chest pain") does not count. Fever alone is no
// emergency; it is one when the person is under three months old (by
// ageMonths or the text: "两个月大", "40天的宝宝", "6 weeks old", "新生儿")
// or comes with a stiff neck. A fever is a fever word (发烧, 发热, 高烧,
// fever; also 退烧 and 没退烧: a fever reducer wanted for a baby that young
// is reason enough) or a reading of 38 °C / 100.4 °F or more. A number of
// days ("3天") is an age only beside a baby word or 大/出生, never a
// duration of illness ("发烧3天" stays a fever). No urine for eight hours
// counts for babies and small children (ageMonths 1 to 23, or a baby or child
// word in the text), not for adults. Convulsions feared or in the history
// ("怕惊厥", "高热惊厥史"), an app that 抽风 and an oximeter wanted (血氧仪)
// are no signs.
//
// Assess never panics, whatever the input (invalid UTF-8 included), is
// deterministic, and is safe for concurrent use. Its cost is linear in the
// length of the texts.
func Assess(ageMonths int, texts ...string) Verdict {
	text := triageText(texts)
	seen := present(text)             // the patterns' literals the text holds
	memo := make(map[*triageCue]bool) // cues shared by signs are looked for once
	var found []*triageSign
	for i := range triageSigns {
		if triageSigns[i].present(ageMonths, text, seen, memo) {
			found = append(found, &triageSigns[i])
		}
	}
	if len(found) == 0 {
		return Verdict{}
	}
	t := Verdict{Emergency: true}
	for _, s := range found {
		t.Signs = append(t.Signs, s.code)
	}
	t.AdviceZH, t.AdviceEN = triageAdvice(found)
	return t
}

// triageAdvice words the call-120 advice for the signs found.
func triageAdvice(found []*triageSign) (zh, en string) {
	var labelsZH, labelsEN []string
	for _, s := range found {
		labelsZH = append(labelsZH, s.labelZH)
		labelsEN = append(labelsEN, s.labelEN)
	}
	zh = "这可能是急症。请立即拨打120急救电话，不要等邻居回复：邻居帮不了这种情况，需要医生和救护车。" +
		"接通后先说：1. 详细地址（小区、楼号、单元、门牌号）；2. 病人是谁（年龄、性别）；" +
		"3. 症状：" + strings.Join(labelsZH, "、") + "，从什么时候开始。" +
		"按调度员的提问逐一回答，不要先挂电话；保持电话畅通，打开门等救护车。"
	en = "This may be a medical emergency. Call 120 now, do not wait for neighbours: they cannot help with this, it needs a doctor and an ambulance. " +
		"When the line answers, say first: 1. the full address (compound, building, unit, flat number); 2. who is ill (age, sex); " +
		"3. the symptoms: " + strings.Join(labelsEN, ", ") + ", and when they started. " +
		"Answer the dispatcher's questions in order and do not hang up first; keep your phone free and the door open for the ambulance."
	return zh, en
}

// triageSign is one emergency sign: found when every cue is met. Cues are
// checked in order, so the rarer goes first.
type triageSign struct {
	code, labelZH, labelEN string
	all                    []*triageCue
}

// triageCue is one condition of a sign: met by the person's age (if age is
// set and accepts it) or by any pattern matching somewhere that overlaps no
// match of exclude.
type triageCue struct {
	age      func(months int) bool
	patterns []triagePattern
	exclude  *triageRegexp // e.g. 网络抽风, 抽风机: not a convulsion
}

// triagePattern is one way of writing a cue.
type triagePattern struct {
	re *triageRegexp
	// num, if set, must accept the number in submatch 1 (Arabic, Chinese or
	// English numerals) with the unit in submatch 2 ("" if there is none).
	num func(n float64, unit string) bool
	// keepNegated counts a match even right after a negation (没退烧: the
	// fever has not gone down).
	keepNegated bool
}

func (s *triageSign) present(ageMonths int, text string, seen []bool, memo map[*triageCue]bool) bool {
	for _, c := range s.all {
		met, ok := memo[c]
		if !ok {
			met = c.met(ageMonths, text, seen)
			memo[c] = met
		}
		if !met {
			return false
		}
	}
	return true
}

func (c *triageCue) met(ageMonths int, text string, seen []bool) bool {
	if c.age != nil && c.age(ageMonths) {
		return true
	}
	var skip [][]int
	if c.exclude != nil && c.exclude.mayMatch(seen) {
		skip = c.exclude.FindAllStringIndex(text, -1)
	}
	for i := range c.patterns {
		if c.patterns[i].found(text, seen, skip) {
			return true
		}
	}
	return false
}

// found reports whether p matches text somewhere that overlaps no skip span,
// is not negated and carries an accepted number.
func (p *triagePattern) found(text string, seen []bool, skip [][]int) bool {
	if !p.re.mayMatch(seen) {
		return false
	}
	for _, m := range p.re.FindAllStringSubmatchIndex(text, -1) {
		switch {
		case triageOverlaps(m[0], m[1], skip):
		case !p.keepNegated && triageNegated(text[:m[0]]):
		case p.num != nil && !p.accepts(text, m):
		default:
			return true
		}
	}
	return false
}

func (p *triagePattern) accepts(text string, m []int) bool {
	if len(m) < 4 || m[2] < 0 {
		return false
	}
	n, ok := triageNumber(text[m[2]:m[3]])
	if !ok {
		return false
	}
	unit := ""
	if len(m) >= 6 && m[4] >= 0 {
		unit = text[m[4]:m[5]]
	}
	return p.num(n, unit)
}

func triageOverlaps(start, end int, spans [][]int) bool {
	for _, s := range spans {
		if start < s[1] && s[0] < end {
			return true
		}
	}
	return false
}

// triageNegation matches the end of the text before a sign when a simple
// negation ends it, maybe followed by a few filler words: 没有, 无明显, 未出现,
// 不; no, not, without, doesn't have any. Clause ends (，。, but, and…) are no
// fillers, so "没有发烧，但是呼吸困难" keeps its sign.
var triageNegation = regexp.MustCompile(`(?:` +
	`(?:没有|没|无|未曾|未|否认|并非|不是|不)(?:有|明显|出现|任何|什么|再次|再|发生|感到|感觉|觉得|见|伴有|伴|发现|过|太|的|是|会)*` +
	`|\b(?:no|not|without|never|nor|denies|denied|denying|isn't|isnt|doesn't|doesnt|didn't|didnt|hasn't|hasnt|haven't|havent|wasn't|wasnt|don't|dont|aren't|arent)` +
	`(?: (?:any|a|an|the|signs? of|symptoms? of|more|further|obvious|real|really|having|have|has|had|show|showing|shows|experience|experiencing|experienced|feel|feeling|felt|with|complain of|complaining of|of|seem|seems|to have|been))*` +
	`) ?$`)

// triageNegationWindow bounds how far before a sign a negation is looked for.
const triageNegationWindow = 64

func triageNegated(before string) bool {
	if len(before) > triageNegationWindow {
		before = before[len(before)-triageNegationWindow:]
		for len(before) > 0 && !utf8.RuneStart(before[0]) {
			before = before[1:]
		}
	}
	return triageNegation.MatchString(before)
}

// triageText normalizes each text and joins them with a clause break, so a
// negation or phrase never runs from one text into the next.
func triageText(texts []string) string {
	parts := make([]string, 0, len(texts))
	for _, t := range texts {
		if n := triageNormalize(t); n != "" {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ";")
}

// triageNormalize folds s for matching: full-width ASCII to ASCII, curly
// quotes to ', subscript ₂ to 2, lower case, every run of white space or
// control characters to one space, and no space at the ends or next to a
// Chinese character ("血氧 90" reads 血氧90). Invalid UTF-8 reads as U+FFFD.
func triageNormalize(s string) string {
	rs := make([]rune, 0, len(s))
	for _, r := range s {
		rs = append(rs, triageFold(r))
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := ' '
	for i, r := range rs {
		if r == ' ' {
			next := ' '
			if i+1 < len(rs) {
				next = rs[i+1]
			}
			if prev == ' ' || next == ' ' || triageIsCJK(prev) || triageIsCJK(next) {
				continue
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func triageFold(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		r -= 0xFEE0
	case r == 0x3000: // ideographic space
		r = ' '
	}
	switch r {
	case '’', '‘', '`', '´', '′':
		return '\''
	case '₂':
		return '2'
	case '–', '—':
		return '-'
	}
	if unicode.IsSpace(r) || unicode.IsControl(r) {
		return ' '
	}
	return unicode.ToLower(r)
}

func triageIsCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF)
}

// triageNumber reads "38.5", "两", "四十", "半", "six" or "an".
func triageNumber(s string) (float64, bool) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n, true
	}
	if n, ok := triageEnglishNumbers[s]; ok {
		return n, true
	}
	return triageChineseNumber(s)
}

var triageEnglishNumbers = map[string]float64{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
	"thirteen": 13, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30,
	"forty": 40, "fifty": 50, "sixty": 60,
}

var triageChineseDigits = map[rune]int{
	'零': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9,
}

// triageChineseNumber reads Chinese numerals below a hundred, roughly:
// 两 = 2, 十五 = 15, 四十 = 40, 半 = 0.5.
func triageChineseNumber(s string) (float64, bool) {
	if s == "半" {
		return 0.5, true
	}
	total, cur := 0, 0
	for _, r := range s {
		if r == '十' {
			total += max(cur, 1) * 10
			cur = 0
			continue
		}
		d, ok := triageChineseDigits[r]
		if !ok {
			return 0, false
		}
		cur = d
	}
	return float64(total + cur), s != ""
}

// triageDays converts an age to days: 月/month 30, 周/星期/week 7, else 1.
func triageDays(n float64, unit string) float64 {
	switch {
	case strings.Contains(unit, "月") || strings.HasPrefix(unit, "mo") || strings.HasPrefix(unit, "mth"):
		return n * 30
	case strings.ContainsAny(unit, "周星礼") || strings.HasPrefix(unit, "w"):
		return n * 7
	}
	return n
}

// triageInfantAge: younger than three months.
func triageInfantAge(n float64, unit string) bool { return triageDays(n, unit) < 90 }

// triageUnder: "不到三个月", "under 3 months": at most three months.
func triageUnder(n float64, unit string) bool { return triageDays(n, unit) <= 90 }

// triageFeverReading: a body temperature of 38 °C (100.4 °F) or more.
// Without a unit, a reading of 95 or more is taken as Fahrenheit.
func triageFeverReading(n float64, unit string) bool {
	celsius := strings.ContainsAny(unit, "c℃") || strings.Contains(unit, "摄氏")
	if strings.ContainsAny(unit, "f℉") || (!celsius && n >= 95) {
		return n >= 100.4 && n <= 110
	}
	return n >= 38 && n <= 44
}

// triageLowOxygen: a saturation reading below 93 that can be one (≥50).
func triageLowOxygen(n float64, _ string) bool { return n >= 50 && n < 93 }

// triageLongNoUrine: eight hours or more (天/day counts 24).
func triageLongNoUrine(n float64, unit string) bool {
	if strings.Contains(unit, "天") || strings.HasPrefix(unit, "d") {
		n *= 24
	}
	return n >= 8
}

func triageInfantMonths(m int) bool { return m >= 1 && m <= 2 }
func triageChildMonths(m int) bool  { return m >= 1 && m <= 23 }

// triageRe compiles a pattern source written for normalized text. A space in
// the source matches one optional space or hyphen ("chest pain" also reads
// "chest-pain" and "chestpain"), so sources never put a space inside a
// character class.
func triageRe(src string) *triageRegexp {
	src = strings.ReplaceAll(src, " ", "[ -]?")
	r := &triageRegexp{Regexp: regexp.MustCompile(src)}
	for _, set := range triageNeeds(src) {
		ids := make([]int, len(set))
		for i, w := range set {
			ids[i] = literalID(w)
		}
		r.needs = append(r.needs, ids)
	}
	return r
}

// triageRegexp is a pattern's expression and the literals it needs: for
// each set, one of its words must be in the text for it to match.
type triageRegexp struct {
	*regexp.Regexp
	needs [][]int // literal numbers (see literalID)
}

// mayMatch reports whether the text whose literals are seen may match.
func (r *triageRegexp) mayMatch(seen []bool) bool {
	for _, set := range r.needs {
		// A literal registered after the automaton was built is not
		// looked for: the expression decides.
		if !slices.ContainsFunc(set, func(id int) bool { return id >= len(seen) || seen[id] }) {
			return false
		}
	}
	return true
}

func triageNeeds(src string) [][]string {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	var needs [][]string
	for _, part := range parts {
		if n := triageNeed(part); n != nil {
			needs = append(needs, n)
		}
	}
	return needs
}

func triageNeed(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCharClass:
		return triageClassNeed(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return triageNeed(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return triageNeed(re.Sub[0])
		}
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			n := triageNeed(sub)
			if n == nil {
				return nil
			}
			all = append(all, n...)
		}
		return all
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if n := triageNeed(sub); n != nil && triageBetter(n, best) {
				best = n
			}
		}
		return best
	}
	return nil
}

// triageClassNeed lists a small character class's runes (nil if large).
func triageClassNeed(ranges []rune) []string {
	var all []string
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] > 16 || len(all) > 16 {
			return nil
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			all = append(all, string(r))
		}
	}
	return all
}

// triageBetter: a's shortest string is longer than b's, or as long with fewer strings.
func triageBetter(a, b []string) bool {
	if b == nil {
		return true
	}
	shortest := func(ss []string) int {
		m := len(ss[0])
		for _, s := range ss {
			m = min(m, len(s))
		}
		return m
	}
	if sa, sb := shortest(a), shortest(b); sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

// triageAny: patterns that count unless negated.
func triageAny(srcs ...string) []triagePattern {
	ps := make([]triagePattern, len(srcs))
	for i, s := range srcs {
		ps[i] = triagePattern{re: triageRe(s)}
	}
	return ps
}

// triageKeep: patterns that count even after a negation.
func triageKeep(srcs ...string) []triagePattern {
	ps := triageAny(srcs...)
	for i := range ps {
		ps[i].keepNegated = true
	}
	return ps
}

// triageNum: patterns whose number (submatch 1, unit in submatch 2) num must accept.
func triageNum(num func(float64, string) bool, srcs ...string) []triagePattern {
	ps := triageAny(srcs...)
	for i := range ps {
		ps[i].num = num
	}
	return ps
}

func triageJoin(lists ...[]triagePattern) []triagePattern {
	var all []triagePattern
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// Building blocks of the patterns. Each has no capturing group except the
// numbers and units (submatches 1 and 2 of numeric patterns).
const (
	triageNumZH   = `(\d+(?:\.\d+)?|[零一二两三四五六七八九十半]+)`
	triageNumEN   = `(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|twenty|thirty|forty|fifty|sixty)`
	triageBabyZH  = `(?:宝宝|宝贝|婴儿|孩子|小孩|娃娃|娃|儿子|女儿|闺女|小宝|新生儿|孙子|孙女|外孙女|外孙|baby)`
	triageAgeZH   = `(个(?:多|半)?月|月龄|个?(?:星期|礼拜)|周)` // months or weeks
	triageAgeAnyZ = `(个(?:多|半)?月|月龄|个?(?:星期|礼拜)|周|天)`
	triageSoonZH  = `(?:才|刚|刚刚|刚满|只有|才刚|出生|出生才|出生刚)`
	triageEndZH   = `(?:了)?(?:[\s,.;:!?、。]|$)`
	triageHoursZH = `(个?(?:多)?(?:小时|钟头)|(?:整)?天)`
	triageHoursEN = `\+? (hours?|hrs?|h|days?)\b`
	triageNoPeeZH = `(?:没|没有|无|不)(?:尿|撒尿|排尿|小便|尿尿|拉尿|尿过)`
	triageDryZH   = `(?:都|也|还)?(?:是干的|干的|没湿|没有湿|不湿|干)`
	triageDiaper  = `(?:尿布|尿不湿|纸尿裤|尿片)`
)

// triageInfant: the person is younger than three months.
var triageInfant = &triageCue{
	age: triageInfantMonths,
	patterns: triageJoin(
		triageNum(triageInfantAge,
			triageBabyZH+triageSoonZH+`?`+triageNumZH+triageAgeZH,
			triageBabyZH+triageSoonZH+triageNumZH+`(天)`,
			triageBabyZH+triageNumZH+`(天)`+triageEndZH,
			triageNumZH+triageAgeAnyZ+`(?:大|的`+triageBabyZH+`|`+triageBabyZH+`)`,
			`出生(?:才|刚|刚刚)?`+triageNumZH+triageAgeAnyZ,
			`(?:^|[\s,.;:!?、。])`+triageNumZH+`(个(?:多|半)?月)`+triageEndZH,
			`\b`+triageNumEN+` (months?|mos?|mths?|weeks?|wks?|days?) old\b`,
			`\b(?:baby|infant|son|daughter|grandson|granddaughter|newborn|little one)(?: is|'s| who is| who's|,)?(?: only| just| barely)? `+triageNumEN+` (months?|weeks?|wks?|days?)\b`),
		triageNum(triageUnder,
			`(?:不到|不满|未满|没满|没到|不足)`+triageNumZH+triageAgeAnyZ,
			`\b(?:under|less than|younger than|not yet|not even) `+triageNumEN+` (months?|weeks?)\b`),
		triageAny(`\bnew born\b|\bneonat(?:e|al)\b`),
		triageKeep(`新生儿|刚出生|满月`), // 未满月: younger still
	),
	// "发烧3天的孩子": three days of fever, not a three-day-old; 满月酒: a party.
	exclude: triageRe(`(?:烧|热|病|咳|吐|拉|泻)(?:了)?` + triageNumZH + `(?:天|周|个月)|满月(?:酒|照|礼|宴)`),
}

// triageFever: a fever, by word or by a reading of 38 °C or more.
var triageFever = &triageCue{
	patterns: triageJoin(
		triageAny(`发烧|发热|高烧|高热|烧到|还在烧|烧起来`,
			`\bfevers?\b|\bfeverish\b|\bfebrile\b|\bhigh temp(?:erature)?\b|\brunning a temp(?:erature)?\b`),
		triageKeep(`退烧|烧不退|烧退不下来`),
		triageNum(triageFeverReading,
			`\b(\d{2,3}(?:\.\d+)?) (度|°c|℃|°f|℉|°|摄氏度|degrees? c(?:elsius)?\b|degrees? f(?:ahrenheit)?\b|degrees?\b|c\b|f\b)`,
			`(?:体温|温度|\btemperature|\btemp|烧到|量了|测了)(?:是|有|为|到|了|:|=|~| of| is| was| at| about| around| reads| reading)* (\d{2,3}(?:\.\d+)?)`),
	),
	exclude: triageRe(`fever free|无发热|退烧贴`),
}

// triageChild: a baby or small child, for dehydration.
var triageChild = &triageCue{
	age: triageChildMonths,
	patterns: triageJoin(triageInfant.patterns, triageAny(
		`宝宝|宝贝|婴儿|孩子|小孩|娃|儿子|女儿|闺女|新生儿|孙子|孙女`,
		`\b(?:baby|babies|infant|toddler|newborn|child|kid|son|daughter)\b`)),
}

var triageSigns = []triageSign{
	{SignDifficultyBreathing, "呼吸困难", "difficulty breathing", []*triageCue{{patterns: triageAny(
		`呼吸(?:困难|费力|急促)|喘不(?:上|过|动)(?:来)?气|喘不上来|上不来气|透不过气|憋气|(?:无法|不能|没法|没办法)呼吸|(?:没|没有)呼吸了|停止呼吸|不会喘气了`,
		`\b(?:difficulty|difficulties|trouble|problems?|struggling|struggles|hard time|labou?red) (?:with |in |to )?breath(?:e|ing)\b`,
		`\bbreathing (?:difficulty|difficulties|problems?|trouble|is labou?red)\b|\bhard to breathe\b|\bshort(?:ness)? of breath\b`,
		`\bcan(?:'t|t|not| t) (?:breathe|breath)\b|\bcould(?:n't|nt| not) breathe\b|\bunable to breathe\b`,
		`\b(?:not|stopped|isn't|isnt|wasn't) breathing\b|\bgasping(?: for (?:air|breath))?\b|\bbreathless(?:ness)?\b`)}}},
	{SignBlueLips, "嘴唇发紫", "blue lips", []*triageCue{{patterns: triageAny(
		`(?:嘴唇|口唇|唇色|嘴巴|嘴)(?:有点|有些|都|已经|开始|也|变得|变)*(?:发紫|青紫|发青|紫了|变紫|发乌|乌紫|发黑|紫绀|发绀|紫)|发绀|紫绀`,
		`\b(?:blue|bluish|purple|purplish|grey|gray|dusky) lips\b|\bcyano(?:sis|tic)\b|\bblue around (?:the |his |her |their )?(?:mouth|lips)\b`,
		`\blips (?:are |is |were |turning |turned |going |gone |look |looking |looks |a bit |slightly |very |getting |becoming |kind of |kinda )*(?:blue|bluish|purple|purplish|grey|gray|dusky)\b`)}}},
	{SignLowOxygen, "血氧低于93", "blood oxygen below 93%", []*triageCue{{patterns: triageNum(triageLowOxygen,
		`(?:血氧饱和度|血氧|氧饱和度|饱和度|氧饱|指氧)(?:值|是|为|只有|才|仅有|仅|降到|掉到|降至|低到|跌到|到了|到|测了|测出|测得|测|一直|只|了|在|有|约|大概|:|=|~|-)*(\d{2,3}(?:\.\d+)?)`,
		`(?:血氧仪|血氧计|指夹式?|\boximeter|\bpulse ox) (?:上)?(?:显示|测出|测得|测了|读数|数值|reads|reading|shows|showing|says)(?:是|为|只有|才|:|=| is| of| only| just| about)* (\d{2,3}(?:\.\d+)?)`,
		`(?:\bspo2|\bsp02|\bsao2|\bo2 sats?|\bo2 saturation|\bo2|\boxygen saturation|\boxygen sats?|\boxygen levels?|\bblood oxygen|\boxygen|\bsats)(?: (?:is|was|are|were|at|of|only|just|down|dropped|dropping|fell|falling|to|around|about|below|under|reads|reading|shows|showing|level|now|:|=|~))* (\d{2,3}(?:\.\d+)?)(?:\b|%)`)}}},
	{SignChestPain, "胸痛", "chest pain", []*triageCue{{patterns: triageAny(
		`胸(?:口|部|前|骨后)?(?:有点|有些|很|好|特别|非常|一直|突然|剧烈)*(?:剧痛|绞痛|刺痛|闷痛|痛|疼)|心口(?:痛|疼)|胸闷(?:伴有|伴|而且|还|又|并且)?(?:疼|痛)`,
		`\bchest (?:pains?|hurts|hurting|is hurting|ache|aches|aching)\b|\bpains? in (?:the|his|her|my|your|their) chest\b`,
		`\bchest (?:tightness|pressure|tight) (?:and|with) pain\b|\bcrushing (?:chest )?pain\b`)}}},
	{SignUnconscious, "意识不清或昏迷", "unconscious or unresponsive", []*triageCue{{patterns: triageAny(
		`昏迷|昏倒|昏过去|晕倒|晕过去|晕厥|晕死过去|不省人事|人事不省|意识(?:不清|模糊|丧失)|失去(?:了)?意识|没(?:有)?意识了|神志(?:不清|模糊)`,
		`(?:叫|喊|拍)(?:都|也)?(?:叫|喊|拍)?不醒|(?:叫|喊|拍)(?:他|她|孩子|宝宝|老人|人)?(?:都|也)?没(?:有)?反应`,
		`\bunconscious\b|\bunresponsive\b|\bfaint(?:ed|ing)\b|\bpass(?:ed|es|ing) out\b|\bblacked out\b|\blos(?:t|s of) consciousness\b`,
		`\b(?:won't|wont|will not|can't|cant|cannot|can not|couldn't|could not) wake\b|\bnot waking up\b`,
		`\b(?:he|she|dad|mum|mom|father|mother|grandma|grandpa|granny|grandmother|grandfather|husband|wife|son|daughter|baby|child|neighbou?r) (?:just |suddenly |has |had )?collapsed\b`)}}},
	{SignConvulsions, "抽搐", "convulsions (seizure)", []*triageCue{{
		patterns: triageAny(`抽搐|惊厥|抽风|(?:癫痫|羊癫疯|羊角风)发作|浑身抽`,
			`\bconvuls(?:ion|ions|ing|ed|ive)\b|\bseiz(?:ure|ures|ing)\b|\b(?:having|had|has|throwing|threw) (?:a )?fits?\b`,
			`\b(?:is|was|been|started|starts|keeps|kept|keep|having|still|began|he's|she's) fitting\b`),
		// Not a convulsion now: an app or a fan that 抽风, a history or a fear of
		// febrile convulsions (常见: "发烧39度，怕惊厥"), seizure medicine, a mask's fit.
		exclude: triageRe(`(?:网络|网|系统|app|手机|软件|电脑|程序|服务器|信号|小程序|微信|页面)(?:又|在|有点|老是|一直)?抽风|抽风(?:机|扇|口)` +
			`|(?:高热|热性)?(?:惊厥|抽搐|抽风|癫痫)史|(?:怕|担心|防止|防|预防|避免|会不会|以免|害怕|容易)(?:高热|热性)?(?:惊厥|抽搐|抽风)` +
			`|\b(?:history of|worried about|afraid of|prevent|preventing|avoid|risk of|prone to) (?:a |febrile )*(?:seizures?|convulsions?|fits?)\b` +
			`|anti seizure|seizure (?:medicine|medication|meds|drugs?|pills?|tablets?|history)|fitting (?:well|properly|nicely|snugly|room|masks?|size|sheets?|n95s?|kn95s?)`),
	}}},
	{SignStroke, "疑似中风（口角歪斜、说话含糊、一侧无力）", "signs of a stroke (face drooping, slurred speech, one side weak)", []*triageCue{{patterns: triageAny(
		`(?:口角|嘴角)(?:歪斜|歪了|歪|下垂)|嘴(?:巴)?歪(?:了|斜)|口眼歪斜|说话(?:含糊|含混|大舌头)|突然说(?:话)?不(?:出|清)(?:话)?`,
		`半身(?:无力|麻木|不能动|动不了)|半边(?:身子|身体|脸)(?:无力|没力气|没力|没劲|麻木|发麻|麻|不能动|动不了)|(?:一侧|一边)(?:手脚|肢体|身体|身子|胳膊|腿)?(?:无力|没劲|没力气|麻木|发麻|不能动|动不了)`,
		`\bslurr(?:ed|ing) (?:speech|words?|his words|her words)\b|\bspeech (?:is |was |became |sounds )?slurred\b|\bfacial droop\b`,
		`\b(?:face|mouth|smile) (?:is |was )?(?:drooping|droops|lopsided)\b|\b(?:drooping|droopy) (?:face|mouth)\b`,
		`\bone side (?:of (?:his|her|the|my|their) (?:body|face) )?(?:is |went |feels |has gone )?(?:weak|numb|drooping|paraly[sz]ed|limp)\b|\bweak(?:ness)? on one side\b|\bone sided weakness\b|\bhaving a stroke\b|\bsigns? of (?:a )?stroke\b`)}}},
	{SignCoughingBlood, "咳血", "coughing up blood", []*triageCue{{
		patterns: triageAny(`咳(?:嗽)?(?:出|带|有)?血|咯血|痰(?:里|中)?(?:带|有)血`,
			`\bcough(?:s|ed|ing)? (?:up )?(?:blood|bloody)\b|\bha?emoptysis\b|\bblood when coughing\b|\bbloody (?:sputum|phlegm|mucus)\b`),
		exclude: triageRe(`咳(?:嗽)?(?:出|带|有)?血(?:压|糖|氧|脂|常规|管|型|液|象)`),
	}}},
	{SignVomitingBlood, "吐血", "vomiting blood", []*triageCue{{
		patterns: triageAny(`吐血|呕血|吐(?:出|了)(?:很多|好多|一些|大量)?血|呕吐(?:物)?(?:里有|中有|带|有)血|吐的(?:东西)?(?:是|有|带)血`,
			`\b(?:vomit(?:s|ed|ing)?|throw(?:s|ing)? up|threw up|puk(?:ed|ing)) (?:up )?(?:blood|bloody)\b|\bha?ematemesis\b|\bbloody vomit\b`),
		exclude: triageRe(`(?:贵|气|累|忙|亏|坑|笑|哭)(?:得|到|的|死)?吐血`),
	}}},
	{SignInfantFever, "三个月以下婴儿发烧", "fever in a baby under three months", []*triageCue{triageFever, triageInfant}},
	{SignFeverStiffNeck, "发烧伴脖子僵硬", "fever with a stiff neck", []*triageCue{triageFever, {patterns: triageAny(
		`(?:脖子|颈部|颈项|脖颈)(?:有点|很|发)?(?:僵硬|强直|发硬|硬|僵)|颈(?:项)?强直|(?:脖子|头)(?:不能|没法|无法)(?:弯|低头|转)|低头困难`,
		`\bstiff neck\b|\bneck (?:is |was |feels |very |so )*stiff\b|\bneck stiffness\b|\bstiffness (?:in|of) (?:the|his|her|my) neck\b`,
		`\bcan(?:'t|t|not| t) (?:bend|move|turn) (?:his |her |my |the )?neck\b`)}}},
	{SignInfantDehydration, "孩子8小时以上没有尿", "a baby with no urine for 8 hours or more", []*triageCue{{patterns: triageNum(triageLongNoUrine,
		triageNumZH+triageHoursZH+`(?:了)?(?:都|也|还|一直|一次)?`+triageNoPeeZH,
		triageNoPeeZH+`(?:了)?(?:已经|有|超过|快|都)?`+triageNumZH+triageHoursZH,
		triageDiaper+`(?:已经|都)?`+triageNumZH+triageHoursZH+`(?:了)?`+triageDryZH,
		triageNumZH+triageHoursZH+`(?:了)?(?:的)?`+triageDiaper+triageDryZH,
		`\b(?:no (?:urine|pee|peeing|wees?|wet (?:diapers?|nappies?|nappy))|(?:hasn't|has not|hasnt|haven't|have not|didn't|did not|not) (?:peed|urinated|passed urine|had a wet (?:diaper|nappy)|wet (?:a|his|her|the) (?:diaper|nappy)))(?: at all)? (?:for|in) (?:over |more than |about |almost |nearly |the last |the past )?`+triageNumEN+triageHoursEN,
		`\bdry (?:diapers?|nappies?|nappy) (?:for|in) (?:over |more than )?`+triageNumEN+triageHoursEN,
		`\b`+triageNumEN+triageHoursEN+` (?:without|with no) (?:urine|peeing|urinating|a wet (?:diaper|nappy)|wet (?:diapers?|nappies?))\b`)}, triageChild}},
}
