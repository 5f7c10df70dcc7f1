package quota

import "time"

const (
	minuteMs = int64(time.Minute / time.Millisecond)
	dayMs    = int64(24 * time.Hour / time.Millisecond)
)

// Periods names the minute, UTC day and UTC month an instant falls in. They are
// plain numbers so stores can embed them in keys and compare them in scripts.
type Periods struct {
	// Minute counts minutes since the Unix epoch.
	Minute int64
	// Day counts UTC days since the Unix epoch.
	Day int64
	// Month is year*12 + month-1 of the UTC calendar.
	Month int64
}

// PeriodsAt returns the periods containing t.
func PeriodsAt(t time.Time) Periods {
	ms := t.UnixMilli()
	u := t.UTC()
	return Periods{
		Minute: floorDiv(ms, minuteMs),
		Day:    floorDiv(ms, dayMs),
		Month:  int64(u.Year())*12 + int64(u.Month()) - 1,
	}
}

// floorDiv divides rounding toward negative infinity, so instants before the
// epoch still land in the right period.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// elapsedInMinute is how far t is into its minute, in milliseconds.
func elapsedInMinute(t time.Time) int64 {
	ms := t.UnixMilli()
	return ms - floorDiv(ms, minuteMs)*minuteMs
}

// monthStartMs is the first millisecond of a Periods.Month number.
func monthStartMs(month int64) int64 {
	y, m := floorDiv(month, 12), month-floorDiv(month, 12)*12
	return time.Date(int(y), time.Month(m+1), 1, 0, 0, 0, 0, time.UTC).UnixMilli()
}

// Period ends, in Unix milliseconds.
func minuteEndMs(p Periods) int64 { return (p.Minute + 1) * minuteMs }
func dayEndMs(p Periods) int64    { return (p.Day + 1) * dayMs }
func monthEndMs(p Periods) int64  { return monthStartMs(p.Month + 1) }

// keyTTLs says how long, from now, counters of periods p stay useful. A
// counter is kept for one more period after its own ends: a minute bucket is
// the previous bucket of the sliding window during the next minute, and day and
// month counters must absorb reconciliations of requests admitted just before
// the rollover. A result <= 0 means the counter is no longer read by anyone
// and writes to it are skipped.
type keyTTLs struct{ minute, day, month int64 }

func ttlsAt(p Periods, now time.Time) keyTTLs {
	ms := now.UnixMilli()
	return keyTTLs{
		minute: minuteEndMs(p) + minuteMs - ms,
		day:    dayEndMs(p) + dayMs - ms,
		month:  monthStartMs(p.Month+2) - ms,
	}
}

// Window is one scope's two-bucket sliding-window state: the counts of the
// previous and the current minute.
type Window struct {
	Prev, Cur int64
}

// estimate is the sliding-window usage elapsed ms into the current minute.
// Redis Lua computes the same with doubles; for counts below 2^53/60000 (about
// 1.5e11 per minute) both are exact.
func (w Window) estimate(elapsed int64) int64 {
	return w.Prev*(minuteMs-elapsed)/minuteMs + w.Cur
}

// waitUntil is the time, assuming no other traffic, until the window's usage
// drops to at most budget. It returns ok=false when it never will (budget < 0).
// Inside the current minute only the previous bucket's weight decays; if the
// current bucket alone is over budget, the wait extends into the next minute,
// where the current count becomes the decaying previous one.
func (w Window) waitUntil(elapsed, budget int64) (time.Duration, bool) {
	if budget < 0 {
		return 0, false
	}
	left := minuteMs - elapsed
	if a := budget - w.Cur; a >= 0 {
		if w.estimate(elapsed) <= budget {
			return 0, true
		}
		// floor(prev*r/W) <= a  <=>  r <= floor(((a+1)*W - 1) / prev)
		return ms(left - ((a+1)*minuteMs-1)/w.Prev), true
	}
	return ms(left + max(0, minuteMs-((budget+1)*minuteMs-1)/w.Cur)), true
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
