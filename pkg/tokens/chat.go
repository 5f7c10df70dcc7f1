package tokens

// Message is one chat message as far as its token cost goes.
type Message struct {
	Role string
	Name string
	// Content is the text content (string content, or the text parts joined).
	Content string
	// ExtraBytes is the size of non-text payload that still becomes prompt
	// tokens (tool calls, tool definitions, image URLs). It is charged one token
	// per byte, the bound for any byte-level BPE text.
	ExtraBytes int
}

// Chat format overheads. OpenAI's cookbook counts 3 tokens per message and 1 per
// name for current models (4 and -1 for gpt-3.5-turbo-0301) plus 3 priming the
// reply; the larger per-message figure is taken so the bound holds for both.
const (
	TokensPerMessage = 4
	TokensPerName    = 1
	TokensReplyPrime = 3
)

// EstimateChat returns an upper bound on the prompt tokens of a chat completion
// request made of messages, format overhead included.
func EstimateChat(messages []Message) int {
	t := defaultWords()
	n := TokensReplyPrime
	for i := range messages {
		m := &messages[i]
		n += TokensPerMessage + estimate(t, m.Role) + estimate(t, m.Content) + m.ExtraBytes
		if m.Name != "" {
			n += TokensPerName + estimate(t, m.Name)
		}
	}
	return n
}
