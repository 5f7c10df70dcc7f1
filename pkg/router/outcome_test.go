package router

import "testing"

func TestOutcomeFromStatus(t *testing.T) {
	tests := []struct {
		status  int
		want    Outcome
		failure bool
	}{
		{200, OutcomeSuccess, false},
		{204, OutcomeSuccess, false},
		{301, OutcomeSuccess, false},
		{400, OutcomeClientError, false},
		{401, OutcomeClientError, false},
		{404, OutcomeClientError, false},
		{413, OutcomeClientError, false},
		{429, OutcomeRateLimited, true},
		{500, OutcomeServerError, true},
		{502, OutcomeServerError, true},
		{503, OutcomeServerError, true}, // Envoy: no healthy upstream, overflow
		{504, OutcomeTimeout, true},     // Envoy: upstream timeout
		{0, OutcomeServerError, true},
		{99, OutcomeServerError, true},
		{600, OutcomeServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			got := OutcomeFromStatus(tt.status)
			if got != tt.want {
				t.Fatalf("OutcomeFromStatus(%d) = %v, want %v", tt.status, got, tt.want)
			}
			if got.Failure() != tt.failure || !got.Counted() {
				t.Fatalf("%v: Failure=%v Counted=%v, want Failure=%v Counted=true", got, got.Failure(), got.Counted(), tt.failure)
			}
		})
	}
}

func TestOutcomeNotCounted(t *testing.T) {
	for _, o := range []Outcome{OutcomeCanceled, Outcome(200)} {
		t.Run(o.String(), func(t *testing.T) {
			if o.Counted() || o.Failure() {
				t.Fatalf("%v: Counted=%v Failure=%v, want neither", o, o.Counted(), o.Failure())
			}
		})
	}
	if OutcomeReset.String() != "reset" || !OutcomeReset.Failure() {
		t.Fatalf("reset must be a failure")
	}
	var zero Outcome
	if zero != OutcomeCanceled {
		t.Fatalf("zero Outcome must be OutcomeCanceled so a forgotten outcome counts nothing")
	}
}
