package quota

import (
	"testing"
	"time"
)

func TestPeriodsAt(t *testing.T) {
	cases := []struct {
		at   time.Time
		want Periods
	}{
		{time.Unix(0, 0), Periods{0, 0, 1970 * 12}},
		{time.Date(2025, 12, 31, 23, 59, 59, 999e6, time.UTC), Periods{29453759, 20453, 2025*12 + 11}},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Periods{29453760, 20454, 2026 * 12}},
		// The period is UTC whatever the clock's location.
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), Periods{29453730, 20453, 2025*12 + 11}},
		{time.Unix(-1, 0), Periods{-1, -1, 1969*12 + 11}},
	}
	for _, c := range cases {
		if got := PeriodsAt(c.at); got != c.want {
			t.Errorf("PeriodsAt(%v) = %+v, want %+v", c.at, got, c.want)
		}
	}
}

func TestPeriodEnds(t *testing.T) {
	p := PeriodsAt(time.Date(2024, 2, 10, 12, 0, 30, 0, time.UTC))
	for name, c := range map[string]struct {
		got  int64
		want time.Time
	}{
		"minute": {minuteEndMs(p), time.Date(2024, 2, 10, 12, 1, 0, 0, time.UTC)},
		"day":    {dayEndMs(p), time.Date(2024, 2, 11, 0, 0, 0, 0, time.UTC)},
		"month":  {monthEndMs(p), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}, // leap February
		"dec":    {monthEndMs(Periods{Month: 2024*12 + 11}), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if c.got != c.want.UnixMilli() {
			t.Errorf("%s end = %v, want %v", name, time.UnixMilli(c.got).UTC(), c.want)
		}
	}
}

func TestWaitUntil(t *testing.T) {
	cases := []struct {
		name      string
		w         Window
		elapsed   int64
		budget    int64
		want      time.Duration
		wantNever bool
	}{
		{"already fits", Window{Prev: 10, Cur: 2}, 30000, 10, 0, false},
		{"previous minute decays", Window{Prev: 10, Cur: 5}, 30000, 9, time.Millisecond, false},
		{"current alone too much", Window{Cur: 3}, 10000, 2, 50001 * time.Millisecond, false},
		{"rounding down frees a lone request at once", Window{Prev: 1}, 0, 0, time.Millisecond, false},
		{"drain to zero", Window{Prev: 600}, 0, 0, 59901 * time.Millisecond, false},
		{"never", Window{Cur: 1}, 0, -1, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.w.waitUntil(c.elapsed, c.budget)
			if ok == c.wantNever || got != c.want {
				t.Errorf("waitUntil = %v, %v; want %v, %v", got, ok, c.want, !c.wantNever)
			}
		})
	}
}

// FuzzWaitUntil checks the retry arithmetic against the window itself: after
// the computed wait the usage fits the budget, and one millisecond earlier it
// does not (the wait is the shortest one).
func FuzzWaitUntil(f *testing.F) {
	f.Add(int64(10), int64(5), int64(30000), int64(9))
	f.Add(int64(0), int64(3), int64(10000), int64(2))
	f.Add(int64(1000000), int64(999), int64(59999), int64(0))
	f.Fuzz(func(t *testing.T, prev, cur, elapsed, budget int64) {
		// Fold every input into the domain: counts and budgets up to 1e9, a
		// position inside the minute.
		fold := func(v, n int64) int64 { return (v%n + n) % n }
		prev, cur, budget, elapsed = fold(prev, 1e9), fold(cur, 1e9), fold(budget, 1e9), fold(elapsed, minuteMs)
		w := Window{Prev: prev, Cur: cur}
		wait, ok := w.waitUntil(elapsed, budget)
		if !ok {
			t.Fatalf("budget %d >= 0 reported as never", budget)
		}
		at := func(d int64) int64 { // usage d ms from now, no new traffic
			e := elapsed + d
			switch {
			case e < minuteMs:
				return w.estimate(e)
			case e < 2*minuteMs:
				return Window{Prev: w.Cur}.estimate(e - minuteMs)
			default:
				return 0
			}
		}
		d := wait.Milliseconds()
		if at(d) > budget {
			t.Fatalf("%+v elapsed %d: after %dms usage %d > budget %d", w, elapsed, d, at(d), budget)
		}
		if d > 0 && at(d-1) <= budget {
			t.Fatalf("%+v elapsed %d: %dms is not the shortest wait (usage %d at %dms)", w, elapsed, d, at(d-1), d-1)
		}
	})
}
