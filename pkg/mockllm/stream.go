package mockllm

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// stream answers a "stream": true request the way OpenAI does: a first chunk
// per choice carrying the role, content chunks, a chunk per choice with the
// finish reason, a usage chunk with no choices when stream_options.include_usage
// is set, then [DONE]. Every event is flushed as soon as it is written.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, x exchange) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ev := eventWriter{w: w, x: x, withUsage: x.req.IncludeUsage && !x.config.OmitUsage}
	ev.flush()
	ctx := r.Context()
	if s.opts.Sleep(ctx, x.config.TimeToFirstToken) != nil {
		return
	}
	empty := ""
	for i := range x.replies {
		ev.choice(i, delta{Role: "assistant", Content: &empty}, nil)
	}
	step := x.config.tokensPerChunk()
	for at := 0; at < longest(x.replies); at += step {
		if at > 0 && s.opts.Sleep(ctx, time.Duration(step)*x.config.TokenDelay) != nil {
			return
		}
		for i, rp := range x.replies {
			if at < len(rp.tokens) {
				text := strings.Join(rp.tokens[at:min(at+step, len(rp.tokens))], "")
				ev.choice(i, delta{Content: &text}, nil)
			}
		}
	}
	for i, rp := range x.replies {
		ev.choice(i, delta{}, &rp.finish)
	}
	if ev.withUsage {
		u := usageOf(x.req, x.replies)
		up := &u
		ev.write(chunk{Choices: []chunkChoice{}, Usage: &up})
	}
	ev.raw("[DONE]")
}

// eventWriter writes the SSE events of one exchange. Write errors are ignored:
// they mean the client left, which ends the stream at the next sleep.
type eventWriter struct {
	w         http.ResponseWriter
	x         exchange
	withUsage bool
}

func (e eventWriter) choice(index int, d delta, finish *string) {
	e.write(chunk{Choices: []chunkChoice{{Index: index, Delta: d, FinishReason: finish}}})
}

// write fills the fields every chunk shares; usage is null on all chunks but
// the last when the client asked for usage, absent otherwise.
func (e eventWriter) write(c chunk) {
	c.ID, c.Object, c.Created, c.Model = e.x.id, "chat.completion.chunk", e.x.created, e.x.req.Model
	c.SystemFingerprint = systemFingerprint
	if e.withUsage && c.Usage == nil {
		var null *usage
		c.Usage = &null
	}
	b, err := json.Marshal(c)
	if err != nil {
		return
	}
	e.raw(string(b))
}

func (e eventWriter) raw(data string) {
	_, _ = e.w.Write([]byte("data: " + data + "\n\n"))
	e.flush()
}

func (e eventWriter) flush() {
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}
