package tokens

import (
	"math/rand/v2"
	"testing"
)

// cookbookCount is OpenAI's published way of counting chat prompt tokens, with
// the real tokenizer: perMessage and perName depend on the model.
func cookbookCount(t *testing.T, messages []Message, perMessage, perName int) []int {
	t.Helper()
	out := make([]int, len(encodingNames))
	for k := range out {
		n := 3
		for _, m := range messages {
			n += perMessage + realCounts(t, m.Role)[k] + realCounts(t, m.Content)[k]
			if m.Name != "" {
				n += perName + realCounts(t, m.Name)[k]
			}
		}
		out[k] = n
	}
	return out
}

func TestEstimateChat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 9))
	c := corpus(r)
	var texts []string
	for _, samples := range c {
		texts = append(texts, samples...)
	}
	roles := []string{"system", "user", "assistant", "tool", "developer"}
	names := []string{"", "", "", "alice", "example_user", "tool-42"}
	for conv := range 40 {
		var messages []Message
		for range 1 + r.IntN(30) {
			messages = append(messages, Message{
				Role:    roles[r.IntN(len(roles))],
				Name:    names[r.IntN(len(names))],
				Content: texts[r.IntN(len(texts))],
			})
		}
		est := EstimateChat(messages)
		for _, model := range []struct{ perMessage, perName int }{{3, 1}, {4, -1}} {
			for k, n := range cookbookCount(t, messages, model.perMessage, model.perName) {
				if est < n {
					t.Fatalf("conversation %d, %s, %+v: estimate %d < %d", conv, encodingNames[k], model, est, n)
				}
			}
		}
	}
}

func TestEstimateChatOverheads(t *testing.T) {
	cases := []struct {
		name     string
		messages []Message
		want     int
	}{
		{"none", nil, TokensReplyPrime},
		{"empty message", []Message{{}}, TokensReplyPrime + TokensPerMessage},
		{"extra bytes", []Message{{ExtraBytes: 100}}, TokensReplyPrime + TokensPerMessage + 100},
		{"name", []Message{{Name: "bob"}}, TokensReplyPrime + TokensPerMessage + TokensPerName + EstimateText("bob")},
		{"text", []Message{{Role: "user", Content: "Hello there"}},
			TokensReplyPrime + TokensPerMessage + EstimateText("user") + EstimateText("Hello there")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateChat(tc.messages); got != tc.want {
				t.Errorf("EstimateChat = %d, want %d", got, tc.want)
			}
		})
	}
}
