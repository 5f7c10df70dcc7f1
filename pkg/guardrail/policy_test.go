package guardrail

import (
	"strings"
	"testing"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{"zero options", Options{}, nil},
		{"everything wrong at once", Options{Action: "block", MaxTokens: 3, Banned: []string{"ok", " \u200b "}},
			[]string{`action "block"`, "token counter", "#1 is empty"}},
		{"negative", Options{MaxChars: -1}, []string{"negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if (err != nil) != (len(tt.wantErr) > 0) {
				t.Fatalf("err = %v, want errors %q", err, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckPrompt(t *testing.T) {
	banned := []string{"ass", "bad word", "ΝΟΡΕ", "禁止"}
	tests := []struct {
		name  string
		opts  Options
		texts []string
		want  Violation
		found bool
	}{
		{"clean", Options{}, []string{"hello", "world"}, Violation{}, false},
		{"whole word only", Options{}, []string{"a class in assessment passes"}, Violation{}, false},
		{"word at end", Options{}, []string{"you ass"}, Violation{Rule: 0, Message: 0}, true},
		{"word before punctuation", Options{}, []string{"ok", "(ass!)"}, Violation{Rule: 0, Message: 1}, true},
		{"underscore separates", Options{}, []string{"ass_hat"}, Violation{Rule: 0, Message: 0}, true},
		{"phrase across white space", Options{}, []string{"a BAD \n\t word"}, Violation{Rule: 1, Message: 0}, true},
		{"phrase needs its words", Options{}, []string{"bad words"}, Violation{}, false},
		{"homoglyphs", Options{}, []string{"bаd wоrd"}, Violation{Rule: 1, Message: 0}, true},
		{"fullwidth", Options{}, []string{"ＡＳＳ"}, Violation{Rule: 0, Message: 0}, true},
		{"zero width", Options{}, []string{"a\u200bs\u200ds"}, Violation{Rule: 0, Message: 0}, true},
		{"greek phrase vs latin text", Options{}, []string{"nope"}, Violation{Rule: 2, Message: 0}, true},
		{"unspaced script matches inside text", Options{}, []string{"这是禁止的"}, Violation{Rule: 3, Message: 0}, true},
		{"leet off", Options{}, []string{"@$$"}, Violation{}, false},
		{"leet on", Options{Leetspeak: true}, []string{"@$$"}, Violation{Rule: 0, Message: 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Banned = banned
			v, found := mustPolicy(t, tt.opts).CheckPrompt(tt.texts)
			if found != tt.found || v != tt.want {
				t.Errorf("CheckPrompt = %+v, %v; want %+v, %v", v, found, tt.want, tt.found)
			}
		})
	}
}

func TestViolationNeverEchoesText(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"secretword"}})
	v, found := p.CheckPrompt([]string{"my secretword"})
	if !found {
		t.Fatal("not found")
	}
	if s := v.String(); strings.Contains(s, "secret") || s != "banned phrase rule 0 in message 0" {
		t.Errorf("String() = %q", s)
	}
}

func TestApply(t *testing.T) {
	banned := []string{"bad", "bad word", "ugly"}
	tests := []struct {
		name, in, want string
		action         Action
		stopped        bool
	}{
		{"redact", "a bad day", "a [redacted] day", ActionRedact, false},
		{"redact longest", "a bad word here", "a [redacted] here", ActionRedact, false},
		{"redact many", "bad, UGLY and bаd", "[redacted], [redacted] and [redacted]", ActionRedact, false},
		{"redact covers invisible characters", "x b\u200bad y", "x [redacted] y", ActionRedact, false},
		{"not inside words", "badge ugly's", "badge [redacted]'s", ActionRedact, false},
		{"stop cuts before the phrase", "fine, then bad things", "fine, then ", ActionStop, true},
		{"stop clean", "all fine", "all fine", ActionStop, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, Options{Banned: banned, Action: tt.action})
			got, stopped, _ := p.Apply(tt.in)
			if got != tt.want || stopped != tt.stopped {
				t.Errorf("Apply(%q) = %q, %v; want %q, %v", tt.in, got, stopped, tt.want, tt.stopped)
			}
		})
	}
}

// TestPolicyConcurrentUse runs under -race: a Policy is shared by all requests.
func TestPolicyConcurrentUse(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"bad"}, MaxChars: 100})
	done := make(chan bool)
	for g := range 4 {
		go func() {
			defer func() { done <- true }()
			for i := range 200 {
				text := strings.Repeat("fine ", g+i%7) + "bad"
				if _, found := p.CheckPrompt([]string{text}); !found {
					t.Error("violation missed")
					return
				}
				if out, _, _ := p.Apply(text); !strings.HasSuffix(out, DefaultRedaction) {
					t.Errorf("Apply = %q", out)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestInvisibleCharacterDoesNotBlockComposition(t *testing.T) {
	p := mustPolicy(t, Options{Banned: []string{"café", "가"}})
	for _, text := range []string{"un cafe\u200b\u0301", "\u1100\u2060\u1161"} {
		if _, found := p.CheckPrompt([]string{text}); !found {
			t.Errorf("%q not caught", text)
		}
	}
	if _, found := p.CheckPrompt([]string{"un cafe"}); found {
		t.Error("cafe matched café")
	}
}
