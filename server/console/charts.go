package console

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/linli/linli/mutualaid"
)

// Charts are SVG drawn on the server: no script, readable by screen
// readers (a <title> and a table-like description), printable. Colours
// are presentation attributes, so the page's style policy allows them.

// chart geometry, in SVG user units (the SVG scales to the page's width).
const (
	chartW, chartH     = 640, 240
	chartLeft, chartB  = 44, 36 // room for the y labels and the x labels
	chartTop, chartRgt = 12, 8
)

const (
	colourMet    = "#2e7d32"
	colourClosed = "#1565c0"
	colourUnmet  = "#b0bec5"
	colourAxis   = "#455a64"
)

// metChart draws, per day, the requests met by neighbours, resolved by the
// hotline, and not (yet) met, stacked.
func metChart(p *page, days []mutualaid.DayReport) template.HTML {
	var b strings.Builder
	title := p.T("report.metchart")
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="met-title" xmlns="http://www.w3.org/2000/svg"><title id="met-title">%s</title>`,
		chartW, chartH, template.HTMLEscapeString(title))
	maxN := 1
	for _, d := range days {
		maxN = max(maxN, int(d.Report.GetRequests()))
	}
	plotW, plotH := float64(chartW-chartLeft-chartRgt), float64(chartH-chartTop-chartB)
	axes(&b, maxN)
	n := max(len(days), 1)
	slot := plotW / float64(n)
	bw := max(slot*0.7, 1)
	every := max(1, (n+6)/7) // at most about 7 date labels
	for i, d := range days {
		r := d.Report
		met, closed := int(r.GetMetByNeighbours()), int(r.GetClosed())
		unmet := max(int(r.GetRequests())-met-closed, 0)
		x := float64(chartLeft) + float64(i)*slot + (slot-bw)/2
		y := float64(chartTop) + plotH
		for _, seg := range []struct {
			n      int
			colour string
			key    string
		}{{met, colourMet, "report.met"}, {closed, colourClosed, "report.closed"}, {unmet, colourUnmet, "report.unmet"}} {
			if seg.n == 0 {
				continue
			}
			h := plotH * float64(seg.n) / float64(maxN)
			y -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x, y, bw, h, seg.colour, d.Day.Format("01-02"), template.HTMLEscapeString(p.T(seg.key)), seg.n)
		}
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="%s">%s</text>`,
				x+bw/2, chartH-chartB+16, colourAxis, d.Day.Format("01-02"))
		}
	}
	legend(&b, p, []string{"report.met", "report.closed", "report.unmet"}, []string{colourMet, colourClosed, colourUnmet})
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// helpChart draws how many requests got help within each time bucket.
func helpChart(p *page, counts []int) template.HTML {
	var b strings.Builder
	title := p.T("report.helpchart")
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="help-title" xmlns="http://www.w3.org/2000/svg"><title id="help-title">%s</title>`,
		chartW, chartH, template.HTMLEscapeString(title))
	maxN := 1
	for _, n := range counts {
		maxN = max(maxN, n)
	}
	plotW, plotH := float64(chartW-chartLeft-chartRgt), float64(chartH-chartTop-chartB)
	axes(&b, maxN)
	slot := plotW / float64(max(len(counts), 1))
	bw := slot * 0.7
	for i, n := range counts {
		x := float64(chartLeft) + float64(i)*slot + (slot-bw)/2
		h := plotH * float64(n) / float64(maxN)
		label := p.T(fmt.Sprintf("bucket.%d", i))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
			x, float64(chartTop)+plotH-h, bw, h, colourClosed, template.HTMLEscapeString(label), n)
		if n > 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">%d</text>`,
				x+bw/2, float64(chartTop)+plotH-h-3, colourAxis, n)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="%s">%s</text>`,
			x+bw/2, chartH-chartB+16, colourAxis, template.HTMLEscapeString(label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axes draws the y axis from 0 to maxN and the baseline.
func axes(b *strings.Builder, maxN int) {
	y0 := chartH - chartB
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, chartLeft, y0, chartW-chartRgt, y0, colourAxis)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, chartLeft, chartTop, chartLeft, y0, colourAxis)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="%s">%d</text>`, chartLeft-4, chartTop+10, colourAxis, maxN)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="%s">0</text>`, chartLeft-4, y0, colourAxis)
}

// legend draws coloured keys along the bottom.
func legend(b *strings.Builder, p *page, keys, colours []string) {
	x := chartLeft
	for i, k := range keys {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`, x, chartH-12, colours[i])
		label := template.HTMLEscapeString(p.T(k))
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`, x+14, chartH-3, colourAxis, label)
		x += 14 + 12*len([]rune(p.T(k))) + 18
	}
}
