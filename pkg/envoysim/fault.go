package envoysim

import (
	"errors"
	"strconv"
	"time"

	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// Fault is the digest of the HTTP fault filter.
type Fault struct {
	// Abort is nil when the filter injects no aborts.
	Abort *FaultAbort
	// Delay is nil when the filter injects no delays.
	Delay *FaultDelay
	// MaxActiveFaults is -1 when unlimited.
	MaxActiveFaults int64
}

// FaultAbort is abort: either a fixed status or header_abort.
type FaultAbort struct {
	Header  bool
	Status  int
	Percent Fraction
}

// FaultDelay is delay: either a fixed duration or header_delay.
type FaultDelay struct {
	Header  bool
	Fixed   time.Duration
	Percent Fraction
}

// Fraction is a FractionalPercent with the denominator spelled out.
type Fraction struct {
	Numerator, Denominator uint64
}

func fraction(p *typev3.FractionalPercent) Fraction {
	if p == nil {
		return Fraction{Numerator: 100, Denominator: 100}
	}
	den := uint64(100)
	switch p.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		den = 10_000
	case typev3.FractionalPercent_MILLION:
		den = 1_000_000
	}
	return Fraction{Numerator: uint64(p.GetNumerator()), Denominator: den}
}

func digestFault(m *faultv3.HTTPFault) (*Fault, error) {
	if m.GetUpstreamCluster() != "" || len(m.GetHeaders()) > 0 || len(m.GetDownstreamNodes()) > 0 ||
		m.GetResponseRateLimit() != nil {
		return nil, errors.New("fault upstream_cluster/headers/downstream_nodes/response_rate_limit are not emulated")
	}
	out := &Fault{MaxActiveFaults: -1}
	if v := m.GetMaxActiveFaults(); v != nil {
		out.MaxActiveFaults = int64(v.GetValue())
	}
	if a := m.GetAbort(); a != nil {
		if a.GetGrpcStatus() != 0 {
			return nil, errors.New("gRPC fault aborts are not emulated")
		}
		out.Abort = &FaultAbort{Header: a.GetHeaderAbort() != nil, Status: int(a.GetHttpStatus()), Percent: fraction(a.GetPercentage())}
	}
	if d := m.GetDelay(); d != nil {
		out.Delay = &FaultDelay{Header: d.GetHeaderDelay() != nil, Fixed: durationOr(d.GetFixedDelay(), 0), Percent: fraction(d.GetPercentage())}
	}
	return out, nil
}

// headerPercent applies a *-percentage header: its numerator is capped by the
// configured one, over the configured denominator; a bad value keeps the
// configured fraction.
func headerPercent(cfg Fraction, h *headerMap, name string) Fraction {
	v, ok := h.get(name)
	if !ok {
		return cfg
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return cfg
	}
	return Fraction{Numerator: min(n, cfg.Numerator), Denominator: cfg.Denominator}
}

// delayFor decides the delay to inject for this request, zero for none.
func (f *Fault) delayFor(h *headerMap, r Rand) time.Duration {
	d := f.Delay
	if d == nil {
		return 0
	}
	dur, pct := d.Fixed, d.Percent
	if d.Header {
		v, ok := h.get("x-envoy-fault-delay-request")
		if !ok {
			return 0
		}
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0
		}
		dur = time.Duration(ms) * time.Millisecond
		pct = headerPercent(d.Percent, h, "x-envoy-fault-delay-request-percentage")
	}
	if dur <= 0 || !rollPercent(r, pct.Numerator, pct.Denominator) {
		return 0
	}
	return dur
}

// abortFor decides the abort status for this request, zero for none.
func (f *Fault) abortFor(h *headerMap, r Rand) int {
	a := f.Abort
	if a == nil {
		return 0
	}
	status, pct := a.Status, a.Percent
	if a.Header {
		v, ok := h.get("x-envoy-fault-abort-request")
		if !ok {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 200 || n >= 600 {
			return 0
		}
		status = n
		pct = headerPercent(a.Percent, h, "x-envoy-fault-abort-request-percentage")
	}
	if status == 0 || !rollPercent(r, pct.Numerator, pct.Denominator) {
		return 0
	}
	return status
}

// faultFilter runs the fault filter on the request headers as ext_proc left
// them. A delay blocks on the injected clock; an abort is a local reply that
// still passes through ext_proc's response path.
func (ex *exchange) faultFilter() *localReply {
	f := ex.p.cfg.Listener.Fault
	if f == nil {
		return nil
	}
	prefix := ex.p.httpStat("fault.")
	if d := f.delayFor(ex.req, ex.p.rand); d > 0 && ex.chargeFault(f, prefix) {
		ex.p.stats.inc(prefix + "delays_injected")
		ex.log.addFlag("DI")
		if !sleep(ex.p.clock, d, ex.ctx.Done()) {
			return &localReply{reset: true, flag: "DC", details: "downstream_remote_disconnect"}
		}
	}
	if status := f.abortFor(ex.req, ex.p.rand); status > 0 && ex.chargeFault(f, prefix) {
		ex.p.stats.inc(prefix + "aborts_injected")
		return &localReply{status: status, body: "fault filter abort", flag: "FI", details: "fault_filter_abort", viaFilters: true}
	}
	return nil
}

// chargeFault enforces max_active_faults (a fuzzy limit, as in Envoy) and
// charges one active fault per request however many faults it gets.
func (ex *exchange) chargeFault(f *Fault, prefix string) bool {
	if ex.faultActive {
		return true
	}
	if f.MaxActiveFaults >= 0 && ex.p.stats.gauge(prefix+"active_faults") >= f.MaxActiveFaults {
		ex.p.stats.inc(prefix + "faults_overflow")
		return false
	}
	ex.faultActive = true
	ex.p.stats.gaugeAdd(prefix+"active_faults", 1)
	return true
}
