package mockllm

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// handleChat answers POST /v1/chat/completions.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, body []byte) {
	req, e := parseChatRequest(body)
	if e != nil {
		writeError(w, http.StatusBadRequest, *e)
		return
	}
	c := s.Config()
	if s.injectError(c) {
		writeError(w, c.ErrorStatus, injectedError(c.ErrorStatus))
		return
	}
	rs := replies(c, req)
	x := exchange{
		id:      fmt.Sprintf("chatcmpl-mock%010d", s.nextID.Add(1)),
		created: s.opts.Now().Unix(),
		req:     req,
		replies: rs,
		config:  c,
	}
	setProviderHeaders(w, x)
	if req.Stream {
		s.stream(w, r, x)
		return
	}
	if err := s.opts.Sleep(r.Context(), x.duration()); err != nil {
		return
	}
	writeJSON(w, http.StatusOK, x.completion())
}

// exchange is one chat completion being answered.
type exchange struct {
	id      string
	created int64
	req     *chatRequest
	replies []reply
	config  Config
}

// duration is how long generating the replies takes: the first token, then the
// delay between tokens of the longest choice (choices are generated side by
// side).
func (x exchange) duration() time.Duration {
	return x.config.TimeToFirstToken + time.Duration(max(longest(x.replies)-1, 0))*x.config.TokenDelay
}

func (x exchange) completion() completion {
	out := completion{
		ID: x.id, Object: "chat.completion", Created: x.created, Model: x.req.Model,
		SystemFingerprint: systemFingerprint, Choices: make([]choice, len(x.replies)),
	}
	for i, r := range x.replies {
		out.Choices[i] = choice{
			Index:        i,
			Message:      message{Role: "assistant", Content: r.content()},
			FinishReason: r.finish,
		}
	}
	if !x.config.OmitUsage {
		u := usageOf(x.req, x.replies)
		out.Usage = &u
	}
	return out
}

// setProviderHeaders adds the headers OpenAI sends with a completion, so that a
// gateway in front can be checked for hiding them.
func setProviderHeaders(w http.ResponseWriter, x exchange) {
	h := w.Header()
	h.Set("X-Request-Id", "req_"+x.id)
	h.Set("Openai-Organization", "mock-llm")
	h.Set("Openai-Version", "2020-10-01")
	h.Set("Openai-Processing-Ms", strconv.FormatInt(x.duration().Milliseconds(), 10))
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
}
