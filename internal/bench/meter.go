package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	gosync "sync"
	"syscall"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// processCPU returns the CPU time this process has used, user and system.
// On a shared machine CPU per operation is steadier than throughput.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeMeter counts what the in-process server's writer does while it is
// on: it is fed every commit group (linlisync.Options.OnGroup).
type writeMeter struct {
	mu        gosync.Mutex
	on        bool
	mutations int
	bytes     int
	groups    int
	perPost   []weightedDuration // each group's apply time per mutation, weighted by its mutations
}

type weightedDuration struct {
	d time.Duration
	w int
}

// writes is what a writeMeter counted.
type writes struct {
	mutations, bytes, groups int
	p50, p99                 time.Duration // writer time per mutation
}

func (m *writeMeter) observe(g linlisync.GroupStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		return
	}
	m.mutations += g.Mutations
	m.bytes += g.Bytes
	m.groups++
	if g.Mutations > 0 {
		m.perPost = append(m.perPost, weightedDuration{d: g.Apply / time.Duration(g.Mutations), w: g.Mutations})
	}
}

// start forgets what was counted and counts from now.
func (m *writeMeter) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on, m.mutations, m.bytes, m.groups, m.perPost = true, 0, 0, 0, m.perPost[:0]
}

// stop stops counting and returns what was counted since start.
func (m *writeMeter) stop() writes {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on = false
	w := writes{mutations: m.mutations, bytes: m.bytes, groups: m.groups}
	w.p50, w.p99 = weightedPercentile(m.perPost, 50), weightedPercentile(m.perPost, 99)
	return w
}

// bytesPer returns the batch bytes per mutation, or nil if none were counted.
func (w writes) bytesPer() *float64 {
	if w.mutations == 0 {
		return nil
	}
	v := float64(w.bytes) / float64(w.mutations)
	return &v
}

// weightedPercentile returns the p-th percentile of samples each counted
// w times, by nearest rank; 0 for none. It sorts samples.
func weightedPercentile(samples []weightedDuration, p float64) time.Duration {
	total := 0
	for _, s := range samples {
		total += s.w
	}
	if total == 0 {
		return 0
	}
	slices.SortFunc(samples, func(a, b weightedDuration) int { return int(a.d - b.d) })
	rank := max(int(math.Ceil(p/100*float64(total))), 1)
	for _, s := range samples {
		if rank -= s.w; rank <= 0 {
			return s.d
		}
	}
	return samples[len(samples)-1].d
}

// cpuPer returns CPU microseconds per unit, or nil without units.
func cpuPer(cpu time.Duration, units int) *float64 {
	if units <= 0 || cpu <= 0 {
		return nil
	}
	v := float64(cpu.Microseconds()) / float64(units)
	return &v
}

// note describes the writer's groups for a result's notes ("" if none
// were counted).
func (w writes) note() string {
	if w.groups == 0 {
		return ""
	}
	return fmt.Sprintf("; writer: %d groups of %.1f mutations, %s per mutation p50, %s p99",
		w.groups, float64(w.mutations)/float64(w.groups), fmtUS(w.p50), fmtUS(w.p99))
}

// fmtUS prints a duration in microseconds.
func fmtUS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + " µs"
}
