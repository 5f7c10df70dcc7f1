package mockllm

import (
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"unicode"
)

// lorem is the vocabulary of generated replies.
var lorem = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation
ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit
esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui
officia deserunt mollit anim id est laborum`)

// reply is one choice's answer: its tokens (each a word with the whitespace
// before it, so that their concatenation is the content) and why it stopped.
type reply struct {
	tokens []string
	finish string
}

func (r reply) content() string {
	return strings.Join(r.tokens, "")
}

// replies builds the n choices of req under c. A generated reply depends only
// on the last user message, the choice index and the length, so the same
// request always gets the same answer.
func replies(c Config, req *chatRequest) []reply {
	out := make([]reply, req.N)
	for i := range out {
		var tokens []string
		if c.ReplyText != "" {
			tokens = splitTokens(c.ReplyText)
		} else {
			tokens = generate(req.lastUserText(), i, c.words())
		}
		out[i] = reply{tokens: tokens, finish: "stop"}
		if req.MaxTokens > 0 && len(tokens) > req.MaxTokens {
			out[i] = reply{tokens: tokens[:req.MaxTokens], finish: "length"}
		}
	}
	return out
}

func generate(prompt string, index, words int) []string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(prompt))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(index)))
	tokens := make([]string, words)
	for i := range tokens {
		w := lorem[r.IntN(len(lorem))]
		switch {
		case i == 0:
			w = strings.ToUpper(w[:1]) + w[1:]
		default:
			w = " " + w
		}
		if i == words-1 {
			w += "."
		}
		tokens[i] = w
	}
	return tokens
}

// splitTokens cuts text where whitespace follows a word, so each token carries
// the whitespace before it, as BPE tokens do (leading whitespace stays with the
// first token, trailing with the last).
func splitTokens(text string) []string {
	var tokens []string
	start, prevSpace := 0, true
	for i, r := range text {
		space := unicode.IsSpace(r)
		if space && !prevSpace {
			tokens = append(tokens, text[start:i])
			start = i
		}
		prevSpace = space
	}
	if rest := text[start:]; len(tokens) > 0 && !hasWord(rest) {
		tokens[len(tokens)-1] += rest
	} else {
		tokens = append(tokens, rest)
	}
	return tokens
}

// hasWord reports whether s holds anything but whitespace.
func hasWord(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) }) >= 0
}

// usageOf is the mock's accounting: prompt words, and reply tokens summed over
// the choices.
func usageOf(req *chatRequest, rs []reply) usage {
	u := usage{PromptTokens: req.promptTokens()}
	for _, r := range rs {
		u.CompletionTokens += len(r.tokens)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// longest is the token count of the longest choice: choices are generated side
// by side, so it sets the response time.
func longest(rs []reply) int {
	n := 0
	for _, r := range rs {
		n = max(n, len(r.tokens))
	}
	return n
}
