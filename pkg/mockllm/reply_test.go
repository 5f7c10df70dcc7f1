package mockllm

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitTokens(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"one two  three", []string{"one", " two", "  three"}},
		{"  lead", []string{"  lead"}},
		{"trail \n", []string{"trail \n"}},
		{"a\nb\tc", []string{"a", "\nb", "\tc"}},
		{"   ", []string{"   "}},
		{"héllo wörld", []string{"héllo", " wörld"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got := splitTokens(tc.in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("splitTokens(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Join(got, "") != tc.in {
				t.Errorf("tokens do not rebuild the text")
			}
		})
	}
}

func TestRepliesDeterministic(t *testing.T) {
	req := func(prompt string, n int) *chatRequest {
		return &chatRequest{Model: "m", N: n, Messages: []chatMessage{{Role: "system", Text: "be brief"}, {Role: "user", Text: prompt}}}
	}
	a := replies(Config{}, req("same prompt", 2))
	b := replies(Config{}, req("same prompt", 2))
	c := replies(Config{}, req("other prompt", 1))
	if a[0].content() != b[0].content() || a[1].content() != b[1].content() {
		t.Error("the same request got different replies")
	}
	if a[0].content() == a[1].content() {
		t.Error("two choices of one request are identical")
	}
	if a[0].content() == c[0].content() {
		t.Error("different prompts got the same reply")
	}
	if got := len(a[0].tokens); got != DefaultWords {
		t.Errorf("%d tokens, want %d", got, DefaultWords)
	}
}

func TestReplyTextTruncated(t *testing.T) {
	r := replies(Config{ReplyText: "the banned word appears late"}, &chatRequest{N: 1, MaxTokens: 3,
		Messages: []chatMessage{{Role: "user", Text: "x"}}})
	if got := r[0].content(); got != "the banned word" || r[0].finish != "length" {
		t.Errorf("content %q finish %q", got, r[0].finish)
	}
}
