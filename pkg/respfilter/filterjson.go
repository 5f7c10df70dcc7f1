package respfilter

import (
	"fmt"

	"github.com/tidwall/gjson"
)

// Result is a rewritten non-streamed response.
type Result struct {
	// Body is the body to send: the input itself when Changed is false. The
	// caller must set content-length to len(Body) when Changed.
	Body    []byte
	Changed bool
	// Usage is the provider's usage when ProviderUsage, else only
	// CompletionTokens, counted from the returned choices' original text.
	Usage         Usage
	ProviderUsage bool
	Outcome       Outcome
}

// FilterJSON rewrites a chat.completion body: the model name, output
// guardrails on each choice's message.content (redaction, or a cut before the
// banned phrase with finish_reason "content_filter"), length caps (an exact cut
// with finish_reason "length"), and extracts the usage. Any other JSON document,
// such as an OpenAI error body, is returned unchanged without usage. A body that
// is not JSON is returned unchanged with an error wrapping ErrInvalidJSON.
func FilterJSON(body []byte, opts Options) (Result, error) {
	return filterJSON(body, opts, &docView{})
}

// filterJSON is FilterJSON reading body into v.
func filterJSON(body []byte, opts Options, v *docView) (Result, error) {
	res := Result{Body: body}
	doc := string(body)
	if !v.scan(doc, "message", nil) {
		if !gjson.Valid(doc) {
			return res, fmt.Errorf("%w (%d bytes)", ErrInvalidJSON, len(body))
		}
		if !gjson.Parse(doc).IsObject() {
			return res, nil
		}
		v.parse(doc, "message")
	}
	if !v.choices.IsArray() {
		return res, nil // an error body or another API's response
	}
	var es []edit
	if opts.ClientModel != "" {
		es = modelEdits(es, v, jsonString(opts.ClientModel))
	}
	if u, ok := parseUsage(v.usage); ok {
		res.Usage, res.ProviderUsage = u, true
	}
	guarded := opts.guarded()
	for i := range v.list {
		c := &v.list[i]
		text := c.text()
		if !res.ProviderUsage {
			// Counted only when the provider did not say: the count is
			// the costliest read of the text.
			res.Usage.CompletionTokens += opts.count(text)
		}
		if guarded {
			es = guardMessage(es, c, text, &opts, &res.Outcome)
		}
	}
	if guarded {
		for _, s := range v.shadowed {
			es = append(es, replaceValue(s, []byte("[]")))
		}
	}
	if len(es) == 0 {
		return res, nil
	}
	res.Body = applyEdits(make([]byte, 0, len(body)+64), doc, es)
	res.Changed = string(res.Body) != doc
	return res, nil
}

// guardMessage applies the policy to one complete choice.
func guardMessage(es []edit, c *choiceView, text string, opts *Options, o *Outcome) []edit {
	es = blankShadowed(es, c)
	m := opts.Policy.NewCheckMatcher()
	defer m.Release()
	out, stopped := m.Feed(text)
	if !stopped {
		var tail string
		tail, stopped = m.Flush()
		out += tail
	}
	o.Redactions += m.Redactions()
	reason := ""
	if stopped {
		reason = "content_filter"
		o.ContentFiltered = true
		o.Violation, _ = m.Violation()
	}
	hit := false
	if opts.Policy.HasLimits() { // else Take would only count the characters
		out, hit = opts.Policy.NewLimiter().Take(out)
	}
	if hit && reason == "" {
		reason = "length"
		o.Truncated = true
	}
	if out != text {
		es = contentEdits(es, c, out)
	}
	if reason != "" {
		for _, f := range c.finish {
			es = append(es, replaceValue(f, jsonString(reason)))
		}
	}
	return es
}

// modelEdits replaces every top-level "model" value with model, the client's
// model name as a JSON string (nil keeps the provider's).
func modelEdits(es []edit, v *docView, model []byte) []edit {
	if model == nil {
		return es
	}
	for _, m := range v.models {
		if m.Raw != string(model) {
			es = append(es, replaceValue(m, model))
		}
	}
	return es
}

// blankShadowed empties the contents no client should read.
func blankShadowed(es []edit, c *choiceView) []edit {
	for _, r := range c.shadowed {
		if r.Type == gjson.String && r.Str != "" {
			es = append(es, replaceValue(r, []byte(`""`)))
		}
	}
	return es
}

// contentEdits sets the content clients read to text and blanks duplicates.
func contentEdits(es []edit, c *choiceView, text string) []edit {
	at := c.textAt()
	if at < 0 {
		at = len(c.contents) - 1 // a null content becomes the text
	}
	for i, r := range c.contents {
		if i == at {
			es = append(es, replaceValue(r, jsonString(text)))
		} else if r.Type == gjson.String && r.Str != "" {
			es = append(es, replaceValue(r, []byte(`""`)))
		}
	}
	return es
}
