package respfilter

import (
	"strings"

	"github.com/tidwall/gjson"
)

// docView is what the filter reads of a chat.completion or a
// chat.completion.chunk. JSON parsers keep the last of duplicated keys, so the
// last occurrence is the one the client would see; every "model" is kept so
// that none leaks. Keys match case-insensitively, as Go's encoding/json (and so
// the Go SDK) matches them.
//
// Two readers fill it: scan (fastscan.go), one strict pass that handles the
// documents providers actually send, and parse, the general gjson reader used
// whenever scan is not sure. Both must give the same view of any document scan
// accepts; FuzzFastPath checks it.
type docView struct {
	models      []gjson.Result
	id, created gjson.Result
	choices     gjson.Result
	// shadowed holds "choices" values a later duplicate key overrides; a
	// guarded filter empties them so no parser can read them unfiltered.
	shadowed []gjson.Result
	usage    gjson.Result
	// list describes the objects of the choices array, in order, and elems
	// counts all its elements (objects or not).
	list  []choiceView
	elems int
	// noScan turns the fast path off, for tests comparing the two readers.
	noScan bool
}

// reset empties v, keeping its slices' memory for the next document.
func (v *docView) reset() {
	*v = docView{models: v.models[:0], shadowed: v.shadowed[:0], list: v.list[:0], noScan: v.noScan}
}

// read fills v from doc, reusing v's memory, and reports whether doc is a
// JSON object; body is "delta" (streams) or "message", h is as for scan. A
// false result leaves v unspecified.
func (v *docView) read(doc, body string, h *docHead) bool {
	if v.scan(doc, body, h) {
		return true
	}
	if !isJSONObject(doc) {
		return false
	}
	v.parse(doc, body)
	return true
}

// parse fills v from doc, a valid JSON object, with gjson.
func (v *docView) parse(doc, body string) {
	v.reset()
	gjson.Parse(doc).ForEach(func(k, val gjson.Result) bool {
		switch {
		case isKey(k, "model"):
			v.models = append(v.models, val)
		case isKey(k, "id"):
			v.id = val
		case isKey(k, "created"):
			v.created = val
		case isKey(k, "choices"):
			v.setChoices(val)
		case isKey(k, "usage"):
			v.usage = val
		}
		return true
	})
	if !v.choices.IsArray() {
		return
	}
	v.choices.ForEach(func(_, ch gjson.Result) bool {
		v.elems++
		if ch.IsObject() {
			v.addChoice().parse(ch, body)
		}
		return true
	})
}

// setChoices records a "choices" value, shadowing an earlier one.
func (v *docView) setChoices(val gjson.Result) {
	if v.choices.Exists() {
		v.shadowed = append(v.shadowed, v.choices)
	}
	v.choices = val
	v.list, v.elems = v.list[:0], 0
}

// addChoice appends an empty choice to list, reusing the memory of the one
// an earlier document left there.
func (v *docView) addChoice() *choiceView {
	if len(v.list) < cap(v.list) {
		v.list = v.list[:len(v.list)+1]
	} else {
		v.list = append(v.list, choiceView{})
	}
	c := &v.list[len(v.list)-1]
	*c = choiceView{contents: c.contents[:0], shadowed: c.shadowed[:0], finish: c.finish[:0]}
	return c
}

// hasChoices reports whether choices is a non-empty array.
func (v *docView) hasChoices() bool {
	return v.choices.IsArray() && v.elems > 0
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

// parse fills c from ch, a choice object; body is "delta" or "message".
func (c *choiceView) parse(ch gjson.Result, body string) {
	ch.ForEach(func(k, val gjson.Result) bool {
		switch {
		case isKey(k, "index"):
			c.index = val.Int()
		case isKey(k, "finish_reason"):
			c.finish = append(c.finish, val)
		case isKey(k, body):
			c.newBody()
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
}

// newBody starts a delta/message, shadowing the contents of an earlier one.
func (c *choiceView) newBody() {
	c.shadowed = append(c.shadowed, c.contents...)
	c.contents = c.contents[:0]
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

// parseUsage reads an OpenAI usage object.
func parseUsage(u gjson.Result) (Usage, bool) {
	if !u.IsObject() {
		return Usage{}, false
	}
	return usageByPath(u), true
}

// usageByPath reads the usage object u with gjson paths. (Once per response:
// the usage of the other chunks is null.)
func usageByPath(u gjson.Result) Usage {
	return Usage{
		PromptTokens:       u.Get("prompt_tokens").Int(),
		CompletionTokens:   u.Get("completion_tokens").Int(),
		TotalTokens:        u.Get("total_tokens").Int(),
		CachedPromptTokens: u.Get("prompt_tokens_details.cached_tokens").Int(),
		ReasoningTokens:    u.Get("completion_tokens_details.reasoning_tokens").Int(),
	}
}

// isKey reports whether the object key k names field, the way Go's
// encoding/json matches struct fields (Unicode case folding).
func isKey(k gjson.Result, field string) bool {
	return strings.EqualFold(k.Str, field)
}

// isJSONObject reports whether doc is valid JSON whose value is an object.
func isJSONObject(doc string) bool {
	t := strings.TrimLeft(doc, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && gjson.Valid(doc)
}
