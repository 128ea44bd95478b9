package triage

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// triageCase is one post as a resident would write it.
type triageCase struct {
	name      string
	ageMonths int
	texts     []string
	want      []string // exact sign set; nil: not an emergency
}

var triageCases = []triageCase{
	// Emergencies, Chinese.
	{"InfantTwoMonthsFever", 0, []string{"宝宝两个月大，发烧38.5度"}, []string{SignInfantFever}},
	{"InfantFortyDaysFever", 0, []string{"40天的宝宝发热38.2℃，怎么办"}, []string{SignInfantFever}},
	{"InfantNewbornFever", 0, []string{"新生儿发烧，在家不知道怎么办"}, []string{SignInfantFever}},
	{"InfantUnderThreeMonths", 0, []string{"宝宝不到三个月，发烧了"}, []string{SignInfantFever}},
	{"InfantTwoAndHalfMonthsReading", 0, []string{"宝宝才两个半月，体温38度"}, []string{SignInfantFever}},
	{"InfantFeverNotDown", 0, []string{"吃了退烧药还是没退烧，宝宝一个多月"}, []string{SignInfantFever}},
	{"InfantAgeFromPost", 2, []string{"发烧了，急需退烧药"}, []string{SignInfantFever}},
	{"InfantAgeAcrossTexts", 0, []string{"宝宝2个月", "发烧38.5"}, []string{SignInfantFever}},
	{"InfantClauseInitialMonths", 0, []string{"两个月，发烧38.6度，夜里一直哭"}, []string{SignInfantFever}},
	{"ElderLowOxygen", 0, []string{"老人血氧88"}, []string{SignLowOxygen}},
	{"OximeterReadsLow", 0, []string{"血氧仪显示89，老人很难受"}, []string{SignLowOxygen}},
	{"SaturationOnly", 0, []string{"爷爷血氧饱和度只有90%，需要制氧机"}, []string{SignLowOxygen}},
	{"ChildConvulsing", 0, []string{"孩子抽搐了"}, []string{SignConvulsions}},
	{"FebrileConvulsion", 0, []string{"孩子发烧惊厥，现在还在抽风"}, []string{SignConvulsions}},
	{"ChestPainSweating", 0, []string{"我爸爸胸口疼得厉害，出冷汗"}, []string{SignChestPain}},
	{"ChestTightAndPain", 0, []string{"胸闷胸痛，左臂发麻"}, []string{SignChestPain}},
	{"FaintedWontWake", 0, []string{"奶奶在家晕倒了，叫不醒"}, []string{SignUnconscious}},
	{"Confused", 0, []string{"外婆神志不清，一直说胡话"}, []string{SignUnconscious}},
	{"BreathlessBlueLips", 0, []string{"老人喘不上气，嘴唇发紫"}, []string{SignDifficultyBreathing, SignBlueLips}},
	{"SpacedOut", 0, []string{"呼 吸 困 难"}, []string{SignDifficultyBreathing}},
	{"BreathAndChest", 0, []string{"爸爸憋气，胸痛"}, []string{SignDifficultyBreathing, SignChestPain}},
	{"NegationStaysInItsClause", 0, []string{"没有发烧，但是呼吸困难"}, []string{SignDifficultyBreathing}},
	{"ConfusedLowOxygen", 0, []string{"意识不清，血氧85%"}, []string{SignUnconscious, SignLowOxygen}},
	{"HighFeverStiffNeck", 0, []string{"孩子高烧40度，脖子僵硬"}, []string{SignFeverStiffNeck}},
	{"InfantNoUrine", 0, []string{"宝宝8个小时没尿了，一直吐"}, []string{SignInfantDehydration}},
	{"DryDiaperHalfDay", 5, []string{"尿不湿半天都是干的"}, []string{SignInfantDehydration}},
	{"StrokeFace", 0, []string{"爷爷突然口角歪斜，说话含糊"}, []string{SignStroke}},
	{"StrokeOneSide", 0, []string{"奶奶半身无力，站不起来"}, []string{SignStroke}},
	{"CoughingBlood", 0, []string{"咳血，痰里有血丝"}, []string{SignCoughingBlood}},
	{"VomitingBlood", 0, []string{"老人吐血了"}, []string{SignVomitingBlood}},
	// Emergencies, English.
	{"CantBreatheBlueLips", 0, []string{"My father can't breathe, lips turning blue"}, []string{SignDifficultyBreathing, SignBlueLips}},
	{"CurlyApostrophe", 0, []string{"She can’t breathe"}, []string{SignDifficultyBreathing}},
	{"ShoutedShortOfBreath", 0, []string{"SHORT OF BREATH"}, []string{SignDifficultyBreathing}},
	{"BreathAndChestEN", 0, []string{"shortness of breath and chest pain since an hour"}, []string{SignDifficultyBreathing, SignChestPain}},
	{"NegatedFeverNotBreathing", 0, []string{"no fever but can't breathe properly"}, []string{SignDifficultyBreathing}},
	{"SixWeeksFever", 0, []string{"Our 6 weeks old baby has a fever of 38.3"}, []string{SignInfantFever}},
	{"TwoMonthOldTemperature", 0, []string{"2-month-old with temperature 38.6, need advice"}, []string{SignInfantFever}},
	{"NewbornFahrenheit", 0, []string{"newborn feels hot, temp 101"}, []string{SignInfantFever}},
	{"AgeOneFever", 1, []string{"fever 38.5, fussy"}, []string{SignInfantFever}},
	{"FullWidthSpO2", 0, []string{"ＳｐＯ２ ９０，需要制氧机"}, []string{SignLowOxygen}},
	{"OxygenPercent", 0, []string{"oxygen 88% on the pulse oximeter"}, []string{SignLowOxygen}},
	{"PassedOut", 0, []string{"my husband passed out in the bathroom"}, []string{SignUnconscious}},
	{"Unresponsive", 0, []string{"the baby is unresponsive"}, []string{SignUnconscious}},
	{"SeizureWithFever", 0, []string{"Seizure! 3 year old having a seizure with fever"}, []string{SignConvulsions}},
	{"FeverStiffNeckEN", 0, []string{"high fever and a stiff neck since this morning"}, []string{SignFeverStiffNeck}},
	{"NoWetDiapers", 0, []string{"baby has had no wet diapers for 10 hours"}, []string{SignInfantDehydration}},
	{"StrokeEN", 0, []string{"Mum's face is drooping and her speech is slurred"}, []string{SignStroke}},
	{"StrokeOneSideEN", 0, []string{"I think grandpa is having a stroke, one side of his body is weak"}, []string{SignStroke}},
	{"CoughingUpBlood", 0, []string{"He is coughing up blood"}, []string{SignCoughingBlood}},
	{"NotYetOneMonth", 0, []string{"未满月宝宝发热"}, []string{SignInfantFever}},
	{"NotBreathing", 0, []string{"she is not breathing"}, []string{SignDifficultyBreathing}},
	{"NoFeverAndBreathless", 0, []string{"no fever and short of breath"}, []string{SignDifficultyBreathing}},
	{"FaceNumbOneSide", 0, []string{"外公半边身子麻，嘴歪了"}, []string{SignStroke}},
	{"ItemNameCarriesSign", 0, []string{"家里有人喘不过气来", "制氧机"}, []string{SignDifficultyBreathing}},

	// Ordinary posts: not emergencies.
	{"ToddlerFeverReducer", 36, []string{"children's fever reducer needed, 39°C"}, nil},
	{"ThreeYearOldFever", 0, []string{"孩子3岁发烧39度急需美林"}, nil},
	{"FeverThreeDays", 0, []string{"老人发烧三天了，想要退烧药"}, nil},
	{"FourMonthsFever", 0, []string{"宝宝四个月，发烧38度"}, nil},
	{"ThreeMonthOldFever", 0, []string{"3-month-old with a fever of 38"}, nil},
	{"InfantBelowFeverLine", 0, []string{"temperature 37.8, slight cough, 2-month-old"}, nil},
	{"InfantNormalTemperature", 0, []string{"40天宝宝体温37.5"}, nil},
	{"OximeterWanted", 0, []string{"oximeter wanted"}, nil},
	{"OximeterZH", 0, []string{"需要血氧仪"}, nil},
	{"OximeterForSale", 0, []string{"血氧仪90元转让"}, nil},
	{"OximeterCount", 0, []string{"血氧仪 2个，指夹式"}, nil},
	{"GoodOxygen", 0, []string{"血氧98，心率正常，只是发烧"}, nil},
	{"OxygenConcentrator", 0, []string{"Need oxygen concentrator, 2 units"}, nil},
	{"SatInTime", 0, []string{"sat 90 minutes waiting for the delivery"}, nil},
	{"NoChestPain", 0, []string{"no chest pain, just a sore throat"}, nil},
	{"NoBreathingTrouble", 0, []string{"没有呼吸困难，只是咳嗽"}, nil},
	{"NeitherSign", 0, []string{"没有胸痛，也没有呼吸困难"}, nil},
	{"NoConvulsion", 0, []string{"没有抽搐，精神还好"}, nil},
	{"NoFeverInfant", 2, []string{"不发烧，就是嗓子有点哑"}, nil},
	{"AntigenTests", 0, []string{"antigen test kits, 2 boxes"}, nil},
	{"AntigenShare", 0, []string{"有多余的抗原，可以分享"}, nil},
	{"AppGlitch", 0, []string{"网络又抽风了，发不出消息"}, nil},
	{"KitchenFan", 0, []string{"厨房抽风机坏了，求借一个"}, nil},
	{"AntiSeizureRefill", 0, []string{"need anti-seizure medication refill (levetiracetam)"}, nil},
	{"FittingMasks", 0, []string{"N95 masks, well fitting, 10 pcs"}, nil},
	{"ExpiredFeverReducer", 0, []string{"退烧药过期2个月了，还能用吗"}, nil},
	{"ThreeDaysNoPoop", 0, []string{"宝宝3天没拉便便，两岁"}, nil},
	{"Pricey", 0, []string{"药店价格贵到吐血"}, nil},
	{"BloodPressure", 0, []string{"咳嗽血压有点高"}, nil},
	{"StrokeAftercare", 0, []string{"中风后遗症，需要成人纸尿裤"}, nil},
	{"AdultDiapers", 0, []string{"成人纸尿裤，8包"}, nil},
	{"Groceries", 0, []string{"Elderly neighbour living alone needs groceries and paracetamol"}, nil},
	{"BetterNow", 0, []string{"吃了药已经不喘了，谢谢大家"}, nil},
	{"FearOfFebrileConvulsion", 0, []string{"孩子发烧39度，怕惊厥，急需美林"}, nil},
	{"ConvulsionHistory", 0, []string{"有高热惊厥史，需要美林"}, nil},
	{"SeizureHistoryEN", 0, []string{"history of febrile seizures, need ibuprofen"}, nil},
	{"PhoneFrozen", 0, []string{"手机没反应了，谁能帮忙代下单"}, nil},
	{"StiffNeckFromSleeping", 0, []string{"落枕了，脖子僵硬，有膏药吗"}, nil},
	{"SixHoursNoUrine", 0, []string{"孩子6小时没尿，喝水少"}, nil},
	{"AdultNoUrine", 0, []string{"8小时没尿"}, nil},
	{"FeverFree", 2, []string{"fever-free since yesterday, thanks"}, nil},
}

func TestAssess(t *testing.T) {
	t.Parallel()
	for _, tc := range triageCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forms := map[string][]string{
				"AsWritten": tc.texts,
				"Upper":     triageMap(tc.texts, strings.ToUpper),
				"FullWidth": triageMap(tc.texts, triageWide),
			}
			for form, texts := range forms {
				got := Assess(tc.ageMonths, texts...)
				if !slices.Equal(triageSorted(got.Signs), triageSorted(tc.want)) {
					t.Errorf("%s: Assess(%d, %q).Signs = %q, want %q", form, tc.ageMonths, texts, got.Signs, tc.want)
				}
				if got.Emergency != (tc.want != nil) {
					t.Errorf("%s: Assess(%d, %q).Emergency = %v, want %v", form, tc.ageMonths, texts, got.Emergency, tc.want != nil)
				}
				checkTriageInvariants(t, got)
			}
		})
	}
}

// TestTriageSignTable: the table reports the Sign* codes, in their order,
// each with labels for the advice.
func TestTriageSignTable(t *testing.T) {
	t.Parallel()
	want := []string{SignDifficultyBreathing, SignBlueLips, SignLowOxygen, SignChestPain, SignUnconscious,
		SignConvulsions, SignStroke, SignCoughingBlood, SignVomitingBlood, SignInfantFever, SignFeverStiffNeck,
		SignInfantDehydration}
	var got []string
	for _, s := range triageSigns {
		got = append(got, s.code)
		if s.labelZH == "" || s.labelEN == "" || len(s.all) == 0 {
			t.Errorf("sign %q: labels %q / %q, %d cues; want labels and cues", s.code, s.labelZH, s.labelEN, len(s.all))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("sign table = %q, want %q", got, want)
	}
}

func TestAssessCaseCount(t *testing.T) {
	t.Parallel()
	var emergencies, ordinary int
	for _, tc := range triageCases {
		if tc.want == nil {
			ordinary++
		} else {
			emergencies++
		}
	}
	if emergencies < 20 || ordinary < 20 {
		t.Errorf("triage table has %d emergencies and %d ordinary posts, want at least 20 of each", emergencies, ordinary)
	}
}

// TestAssessOrdinaryPosts: everyday requests and offers from the building
// chats never send anyone to 120.
func TestAssessOrdinaryPosts(t *testing.T) {
	t.Parallel()
	for _, post := range readTriageFixture(t, "ordinary.txt") {
		if got := Assess(0, post); got.Emergency {
			t.Errorf("Assess(0, %q) = emergency %q, want none", post, got.Signs)
		}
	}
}

func TestTriageAdvice(t *testing.T) {
	t.Parallel()
	got := Assess(0, "My father can't breathe, lips turning blue")
	for _, want := range []string{"120", "呼吸困难", "嘴唇发紫", "地址", "邻居"} {
		if !strings.Contains(got.AdviceZH, want) {
			t.Errorf("AdviceZH = %q, want it to mention %q", got.AdviceZH, want)
		}
	}
	for _, want := range []string{"120", "difficulty breathing", "blue lips", "address", "neighbours"} {
		if !strings.Contains(got.AdviceEN, want) {
			t.Errorf("AdviceEN = %q, want it to mention %q", got.AdviceEN, want)
		}
	}
	if none := Assess(0, "需要血氧仪"); none.AdviceZH != "" || none.AdviceEN != "" {
		t.Errorf("advice for an ordinary post = %q / %q, want none", none.AdviceZH, none.AdviceEN)
	}
}

func TestTriageNormalize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"呼 吸 困 难":          "呼吸困难",
		"  Chest   PAIN  ": "chest pain",
		"血氧　９０":            "血氧90",
		"ＳｐＯ₂ 88％":         "spo2 88%",
		"can’t\tbreathe":   "can't breathe",
		"\xff抽搐":           "\ufffd抽搐",
	} {
		if got := triageNormalize(in); got != want {
			t.Errorf("triageNormalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTriageNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{
		"38.5": 38.5, "两": 2, "三": 3, "十": 10, "十五": 15, "四十": 40, "二十八": 28, "半": 0.5, "six": 6, "an": 1,
	} {
		if got, ok := triageNumber(in); !ok || got != want {
			t.Errorf("triageNumber(%q) = %v, %v; want %v, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "x", "半半", "三x"} {
		if got, ok := triageNumber(in); ok {
			t.Errorf("triageNumber(%q) = %v, true; want false", in, got)
		}
	}
}

// FuzzAssess: any text, any age: no panic, a consistent verdict, and the
// same verdict for the full-width spelling of the same text.
func FuzzAssess(f *testing.F) {
	for _, tc := range triageCases {
		f.Add(tc.ageMonths, strings.Join(tc.texts, "\n"))
	}
	for _, post := range readTriageFixture(f, "ordinary.txt") {
		f.Add(0, post)
	}
	f.Add(-1, "")
	f.Add(1<<30, "\xff\xfe没有")
	f.Fuzz(func(t *testing.T, ageMonths int, text string) {
		got := Assess(ageMonths, text, text)
		checkTriageInvariants(t, got)
		if again := Assess(ageMonths, text, text); !slices.Equal(again.Signs, got.Signs) {
			t.Fatalf("Assess is not deterministic: %q then %q", got.Signs, again.Signs)
		}
		wide := triageWide(text)
		if w := Assess(ageMonths, wide, wide); !slices.Equal(w.Signs, got.Signs) {
			t.Fatalf("full-width text gave %q, half-width %q", w.Signs, got.Signs)
		}
	})
}

func BenchmarkAssess(b *testing.B) {
	b.Run("Emergency", func(b *testing.B) {
		note := "宝宝两个月大，发烧38.5度，家里没有退烧药，外卖送不进来，急需小儿对乙酰氨基酚滴剂，15号楼，谢谢邻居们！"
		for b.Loop() {
			Assess(0, note, "对乙酰氨基酚滴剂", "体温计")
		}
	})
	b.Run("Ordinary", func(b *testing.B) {
		posts := readTriageFixture(b, "ordinary.txt")
		i := 0
		for b.Loop() {
			Assess(0, posts[i%len(posts)])
			i++
		}
	})
}

// checkTriageInvariants: Emergency iff signs; signs known, unique and in
// table order; advice iff emergency, naming 120 in both languages.
func checkTriageInvariants(t *testing.T, got Verdict) {
	t.Helper()
	if got.Emergency != (len(got.Signs) > 0) {
		t.Fatalf("Emergency = %v with signs %q", got.Emergency, got.Signs)
	}
	last := -1
	for _, s := range got.Signs {
		i := slices.IndexFunc(triageSigns, func(ts triageSign) bool { return ts.code == s })
		if i <= last {
			t.Fatalf("signs %q: unknown, repeated or out of order at %q", got.Signs, s)
		}
		last = i
	}
	if got.Emergency != (got.AdviceZH != "") || got.Emergency != (got.AdviceEN != "") {
		t.Fatalf("Emergency = %v but advice %q / %q", got.Emergency, got.AdviceZH, got.AdviceEN)
	}
	if got.Emergency && (!strings.Contains(got.AdviceZH, "120") || !strings.Contains(got.AdviceEN, "120")) {
		t.Fatalf("advice does not say to call 120: %q / %q", got.AdviceZH, got.AdviceEN)
	}
}

// triageWide spells ASCII in full width, as some phone keyboards do.
func triageWide(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == ' ':
			b.WriteRune(0x3000)
		case r > ' ' && r < 0x7F:
			b.WriteRune(r + 0xFEE0)
		default:
			b.WriteRune(r)
		}
		s = s[size:]
	}
	return b.String()
}

// triageSorted: a sorted copy, to compare sign sets.
func triageSorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

func triageMap(texts []string, fn func(string) string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = fn(s)
	}
	return out
}

// readTriageFixture reads testdata/name: one post per line, blank
// lines and lines starting with # skipped.
func readTriageFixture(tb testing.TB, name string) []string {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var posts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			posts = append(posts, line)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return posts
}
