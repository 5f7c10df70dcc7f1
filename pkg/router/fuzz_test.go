package router

import (
	"errors"
	"strings"
	"testing"
)

// FuzzSelect feeds client-controlled strings (model, pin header, consumer id)
// to Select: it must never panic, a pin must be honoured exactly, and no path
// may leak a permit (the sidecar-wide limit is 1).
func FuzzSelect(f *testing.F) {
	for _, seed := range [][3]string{
		{"m", "", "c"}, {"m", "hf/meta-llama/Llama-3", ""}, {"m", "openai", "x"}, {"m", "/", ""},
		{"m", "openai/", ""}, {"nope", "openai", ""}, {"", "", ""}, {"m", "hf/dark-only\x00", "é"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	o := pinOptions()
	o.Rand = nil
	o.MaxConcurrent = 1
	o.Routes[0].Sticky = true
	r, err := New(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, model, pin, consumer string) {
		s, err := r.Select(Request{Model: model, Pin: pin, Consumer: consumer})
		if err != nil {
			if !errors.Is(err, ErrUnknownModel) && !errors.Is(err, ErrPinNotFound) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		defer s.Done(OutcomeSuccess)
		if pin == "" {
			return
		}
		provider, upstream, exact := strings.Cut(pin, "/")
		if s.Provider.Name != provider || (exact && s.UpstreamModel != upstream) {
			t.Fatalf("pin %q selected %s/%s", pin, s.Provider.Name, s.UpstreamModel)
		}
	})
}
