package respfilter

import (
	"strings"

	"github.com/tidwall/gjson"
)

// docView is what the filter reads of a chat.completion or a
// chat.completion.chunk, found in one pass over the top-level keys. JSON
// parsers keep the last of duplicated keys, so the last occurrence is the one
// the client would see; every "model" is kept so that none leaks. Keys match
// case-insensitively, as Go's encoding/json (and so the Go SDK) matches them.
type docView struct {
	models      []gjson.Result
	id, created gjson.Result
	choices     gjson.Result
	// shadowed holds "choices" values a later duplicate key overrides; a
	// guarded filter empties them so no parser can read them unfiltered.
	shadowed []gjson.Result
	usage    gjson.Result
}

// parse fills v from doc, reusing v's slices.
func (v *docView) parse(doc string) {
	*v = docView{models: v.models[:0], shadowed: v.shadowed[:0]}
	gjson.Parse(doc).ForEach(func(k, val gjson.Result) bool {
		switch {
		case isKey(k, "model"):
			v.models = append(v.models, val)
		case isKey(k, "id"):
			v.id = val
		case isKey(k, "created"):
			v.created = val
		case isKey(k, "choices"):
			if v.choices.Exists() {
				v.shadowed = append(v.shadowed, v.choices)
			}
			v.choices = val
		case isKey(k, "usage"):
			v.usage = val
		}
		return true
	})
}

// hasChoices reports whether choices is a non-empty array.
func (v *docView) hasChoices() bool {
	return v.choices.IsArray() && v.choices.Get("#").Int() > 0
}

// usageOnly reports the final usage chunk of a stream: no choices, a usage.
func (v *docView) usageOnly() bool {
	return v.choices.IsArray() && !v.hasChoices() && v.usage.IsObject()
}

// choiceView is one element of choices.
type choiceView struct {
	index int64
	// contents are the "content" values of the delta (stream) or message; the
	// last is the one clients read, the others are blanked when it is rewritten.
	contents []gjson.Result
	// shadowed are contents of a delta/message that a later duplicate key
	// overrides: a guarded filter blanks them.
	shadowed []gjson.Result
	finish   []gjson.Result
}

// textAt returns the index in contents of the content clients read, -1 if
// none: the last string, since Go's encoding/json ignores a later null while
// other parsers take it (a null is safe to leave either way).
func (c *choiceView) textAt() int {
	for i := len(c.contents) - 1; i >= 0; i-- {
		if c.contents[i].Type == gjson.String {
			return i
		}
	}
	return -1
}

// text returns the content clients read, "" if none.
func (c *choiceView) text() string {
	if i := c.textAt(); i >= 0 {
		return c.contents[i].Str
	}
	return ""
}

// finished reports whether finish_reason is set (not null).
func (c *choiceView) finished() bool {
	return len(c.finish) > 0 && c.finish[len(c.finish)-1].Type == gjson.String
}

// viewChoices calls fn for each choice, described in c (reused, so the
// caller's scratch serves every choice); body is "delta" or "message".
func viewChoices(choices gjson.Result, body string, c *choiceView, fn func(c *choiceView) bool) {
	if !choices.IsArray() {
		return
	}
	choices.ForEach(func(_, ch gjson.Result) bool {
		if !ch.IsObject() {
			return true
		}
		*c = choiceView{contents: c.contents[:0], shadowed: c.shadowed[:0], finish: c.finish[:0]}
		ch.ForEach(func(k, val gjson.Result) bool {
			switch {
			case isKey(k, "index"):
				c.index = val.Int()
			case isKey(k, "finish_reason"):
				c.finish = append(c.finish, val)
			case isKey(k, body):
				c.shadowed = append(c.shadowed, c.contents...)
				c.contents = c.contents[:0]
				if val.IsObject() {
					val.ForEach(func(k, val gjson.Result) bool {
						if isKey(k, "content") {
							c.contents = append(c.contents, val)
						}
						return true
					})
				}
			}
			return true
		})
		return fn(c)
	})
}

// parseUsage reads an OpenAI usage object.
func parseUsage(u gjson.Result) (Usage, bool) {
	if !u.IsObject() {
		return Usage{}, false
	}
	return Usage{
		PromptTokens:       u.Get("prompt_tokens").Int(),
		CompletionTokens:   u.Get("completion_tokens").Int(),
		TotalTokens:        u.Get("total_tokens").Int(),
		CachedPromptTokens: u.Get("prompt_tokens_details.cached_tokens").Int(),
		ReasoningTokens:    u.Get("completion_tokens_details.reasoning_tokens").Int(),
	}, true
}

// isKey reports whether the object key k names field, the way Go's
// encoding/json matches struct fields (Unicode case folding).
func isKey(k gjson.Result, field string) bool {
	return strings.EqualFold(k.Str, field)
}
