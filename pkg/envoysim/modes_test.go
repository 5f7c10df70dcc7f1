package envoysim

import (
	"testing"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
)

func TestModeOverrideUnit(t *testing.T) {
	const (
		send     = extprocfilterv3.ProcessingMode_SEND
		skip     = extprocfilterv3.ProcessingMode_SKIP
		none     = extprocfilterv3.ProcessingMode_NONE
		buffered = extprocfilterv3.ProcessingMode_BUFFERED
		streamed = extprocfilterv3.ProcessingMode_STREAMED
	)
	configured := &extprocfilterv3.ProcessingMode{RequestHeaderMode: send, ResponseHeaderMode: send, RequestBodyMode: buffered, ResponseBodyMode: buffered}
	tests := []struct {
		name        string
		cfg         *ExtProc
		ov          *extprocfilterv3.ProcessingMode
		wantApplied bool
		want        procMode
	}{
		{"body modes copied as given", &ExtProc{AllowModeOverride: true},
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: streamed}, true,
			procMode{sendHeaders: [2]bool{true, true}, body: [2]extprocfilterv3.ProcessingMode_BodySendMode{none, streamed}}},
		{"header SKIP applies, DEFAULT keeps", &ExtProc{AllowModeOverride: true},
			&extprocfilterv3.ProcessingMode{ResponseHeaderMode: skip, RequestBodyMode: buffered, ResponseBodyMode: buffered}, true,
			procMode{sendHeaders: [2]bool{true, false}, body: [2]extprocfilterv3.ProcessingMode_BodySendMode{buffered, buffered}}},
		{"not allowed by config", &ExtProc{},
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: streamed}, false, modeFromConfig(configured)},
		{"allowed list matches", &ExtProc{AllowModeOverride: true, AllowedOverrideModes: []*extprocfilterv3.ProcessingMode{
			{RequestHeaderMode: skip, ResponseBodyMode: streamed}}},
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: streamed}, true,
			procMode{sendHeaders: [2]bool{true, true}, body: [2]extprocfilterv3.ProcessingMode_BodySendMode{none, streamed}}},
		{"allowed list rejects", &ExtProc{AllowModeOverride: true, AllowedOverrideModes: []*extprocfilterv3.ProcessingMode{
			{ResponseBodyMode: buffered}}},
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: streamed}, false, modeFromConfig(configured)},
		{"full duplex refused", &ExtProc{AllowModeOverride: true},
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED}, false, modeFromConfig(configured)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modeFromConfig(configured)
			if got := m.override(tc.ov, tc.cfg); got != tc.wantApplied {
				t.Fatalf("applied = %v", got)
			}
			if m != tc.want {
				t.Errorf("mode = %+v, want %+v", m, tc.want)
			}
		})
	}
}

func TestRemovesContentLength(t *testing.T) {
	tests := []struct {
		body        extprocfilterv3.ProcessingMode_BodySendMode
		sendHeaders bool
		want        bool
	}{
		{extprocfilterv3.ProcessingMode_BUFFERED, true, false},
		{extprocfilterv3.ProcessingMode_BUFFERED, false, true},
		{extprocfilterv3.ProcessingMode_STREAMED, true, true},
		{extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL, true, true},
		{extprocfilterv3.ProcessingMode_NONE, true, false},
	}
	for _, tc := range tests {
		m := procMode{sendHeaders: [2]bool{tc.sendHeaders, tc.sendHeaders}, body: [2]extprocfilterv3.ProcessingMode_BodySendMode{tc.body, tc.body}}
		if got := m.removesContentLength(dirResponse); got != tc.want {
			t.Errorf("%s headers=%v: %v, want %v", tc.body, tc.sendHeaders, got, tc.want)
		}
	}
}
