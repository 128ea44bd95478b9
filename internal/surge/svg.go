package surge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Charts are plain SVG written by hand: no dependency, readable in any
// browser and on GitHub.

var policyColour = map[string]string{PolicyLinli: "#d9480f", PolicyChat: "#1864ab"}

const (
	svgW, svgH                     = 760, 420
	padL, padR, padT, padB float64 = 64, 150, 40, 52
)

type svgChart struct {
	b          strings.Builder
	x0, x1     float64 // plot area, pixels
	y0, y1     float64
	xmin, xmax float64
	ymin, ymax float64
	logX       bool
	inside     bool // legend inside the plot, top left
}

func newChart(title string, xmin, xmax, ymin, ymax float64, logX bool) *svgChart {
	c := &svgChart{x0: padL, x1: svgW - padR, y0: svgH - padB, y1: padT, xmin: xmin, xmax: xmax, ymin: ymin, ymax: ymax, logX: logX}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&c.b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&c.b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(title))
	fmt.Fprintf(&c.b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", c.x0, c.y1, c.x1-c.x0, c.y0-c.y1)
	return c
}

func (c *svgChart) px(x float64) float64 {
	if c.logX {
		return c.x0 + (math.Log(x)-math.Log(c.xmin))/(math.Log(c.xmax)-math.Log(c.xmin))*(c.x1-c.x0)
	}
	return c.x0 + (x-c.xmin)/(c.xmax-c.xmin)*(c.x1-c.x0)
}

func (c *svgChart) py(y float64) float64 {
	return c.y0 - (y-c.ymin)/(c.ymax-c.ymin)*(c.y0-c.y1)
}

func (c *svgChart) xTick(x float64, label string) {
	p := c.px(x)
	fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", p, c.y0, p, c.y1)
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", p, c.y0+16, esc(label))
}

func (c *svgChart) yTick(y float64, label string) {
	p := c.py(y)
	fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", c.x0, p, c.x1, p)
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", c.x0-6, p+4, esc(label))
}

func (c *svgChart) axisLabels(x, y string) {
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#222">%s</text>`+"\n", (c.x0+c.x1)/2, c.y0+38, esc(x))
	fmt.Fprintf(&c.b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", (c.y0+c.y1)/2, esc(y))
}

// line draws a polyline through (x, y) points.
func (c *svgChart) line(xs, ys []float64, colour string, dashed bool, width float64) {
	var pts []string
	for i := range xs {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.px(xs[i]), c.py(ys[i])))
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	fmt.Fprintf(&c.b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", colour, width, dash, strings.Join(pts, " "))
}

func (c *svgChart) vline(x float64, label string) {
	p := c.px(x)
	fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#2b8a3e" stroke-dasharray="2 3"/>`+"\n", p, c.y0, p, c.y1)
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" fill="#2b8a3e">%s</text>`+"\n", p+4, c.y1+14, esc(label))
}

// legend writes entry i of the legend, right of the plot (or inside it,
// top left, if inside).
func (c *svgChart) legend(i int, colour string, dashed bool, label string) {
	y := c.y1 + 10 + float64(i)*20
	x := c.x1 + 14
	if c.inside {
		x, y = c.x0+12, c.y1+16+float64(i)*20
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/>`+"\n", x, y, x+24, y, colour, dash)
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" fill="#222">%s</text>`+"\n", x+30, y+4, esc(label))
}

func (c *svgChart) done() string {
	c.b.WriteString("</svg>\n")
	return c.b.String()
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// timeToHelpSVG: for each policy, the share of all needs met by a
// neighbour within t of the request, t on a log scale from a minute to
// the run's length.
func (r *Result) timeToHelpSVG() string {
	maxMin := float64(r.Scenario.Hours * 60)
	c := newChart("Time to help: share of all needs met by a neighbour within t", 1, maxMin, 0, 1, true)
	c.inside = true
	for _, t := range []struct {
		m float64
		l string
	}{{1, "1 min"}, {5, "5 min"}, {15, "15 min"}, {60, "1 h"}, {180, "3 h"}, {720, "12 h"}, {1440, "24 h"}, {4320, "72 h"}} {
		if t.m <= maxMin {
			c.xTick(t.m, t.l)
		}
	}
	for y := 0.0; y <= 1.0001; y += 0.2 {
		c.yTick(y, fmt.Sprintf("%.0f%%", 100*y))
	}
	c.vline(15, "15 min")
	c.axisLabels("time from request to the item in hand (log scale)", "share of all needs")
	for i, f := range r.Figures {
		var mins []float64
		total := 0
		for _, rec := range r.Records {
			if rec.Policy != f.Policy {
				continue
			}
			total++
			if rec.Outcome == OutcomeNeighbours {
				mins = append(mins, math.Max(1, (rec.Neighbour-rec.Posted).Minutes()))
			}
		}
		slices.Sort(mins)
		xs, ys := []float64{1}, []float64{0}
		for j, m := range mins {
			xs = append(xs, m, m)
			ys = append(ys, float64(j)/float64(max(total, 1)), float64(j+1)/float64(max(total, 1)))
		}
		xs = append(xs, maxMin)
		ys = append(ys, float64(len(mins))/float64(max(total, 1)))
		c.line(xs, ys, policyColour[f.Policy], false, 2.5)
		c.legend(i, policyColour[f.Policy], false, fmt.Sprintf("%s (median %s)", f.Policy, fmtMinutes(f.Median)))
	}
	return c.done()
}

// overTimeSVG: for each policy, hour by hour, the needs met by
// neighbours so far (solid) and the needs waiting (dashed), with the
// share of households ill (grey, right axis).
func (r *Result) overTimeSVG() string {
	ymax := 10.0
	for _, p := range r.Policies() {
		for _, pt := range r.Series[p] {
			ymax = math.Max(ymax, float64(max(pt.Posted, pt.Waiting)))
		}
	}
	ymax = niceCeil(ymax)
	c := newChart("Needs posted, met by neighbours (solid) and waiting (dashed)", 0, float64(r.Scenario.Hours), 0, ymax, false)
	for h := 0; h <= r.Scenario.Hours; h += 12 {
		c.xTick(float64(h), fmt.Sprintf("%d h", h))
	}
	for y := 0.0; y <= ymax+0.5; y += ymax / 5 {
		c.yTick(y, fmt.Sprintf("%.0f", y))
	}
	c.axisLabels("hours since the start of the run", "needs")
	// Households ill, scaled so that 50% reaches the top.
	var hx, hy []float64
	for h, s := range r.Sick {
		hx, hy = append(hx, float64(h)), append(hy, s/0.5*ymax)
	}
	c.line(hx, hy, "#adb5bd", false, 1.5)
	var px, posted []float64
	for _, pt := range r.Series[PolicyLinli] {
		px, posted = append(px, float64(pt.Hour)), append(posted, float64(pt.Posted))
	}
	c.line(px, posted, "#212529", false, 1)
	for i, p := range r.Policies() {
		var xs, met, wait []float64
		for _, pt := range r.Series[p] {
			xs = append(xs, float64(pt.Hour))
			met = append(met, float64(pt.Met))
			wait = append(wait, float64(pt.Waiting))
		}
		c.line(xs, met, policyColour[p], false, 2.5)
		c.line(xs, wait, policyColour[p], true, 2)
		c.legend(2*i, policyColour[p], false, p+": met")
		c.legend(2*i+1, policyColour[p], true, p+": waiting")
	}
	c.legend(4, "#212529", false, "needs posted")
	c.legend(5, "#adb5bd", false, "households ill")
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" fill="#868e96">(50%% ill = top)</text>`+"\n", c.x1+44, c.y1+10+5*20+18)
	return c.done()
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
