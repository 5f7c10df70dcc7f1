package respfilter

import (
	"slices"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// edit replaces the bytes [start, end) of a JSON document. Rewriting by
// splicing keeps every field the gateway does not know byte for byte, and
// costs one copy of the document.
type edit struct {
	start, end int
	repl       []byte
}

// replaceValue returns an edit replacing the raw value r. r must come from a
// parse of the whole document so that its Index is absolute.
func replaceValue(r gjson.Result, repl []byte) edit {
	return edit{start: r.Index, end: r.Index + len(r.Raw), repl: repl}
}

// applyEdits appends doc with the edits applied to dst.
func applyEdits(dst []byte, doc string, es []edit) []byte {
	slices.SortFunc(es, func(a, b edit) int { return a.start - b.start })
	last := 0
	for _, e := range es {
		if e.start < last {
			continue // overlapping edits cannot come from distinct values
		}
		dst = append(dst, doc[last:e.start]...)
		dst = append(dst, e.repl...)
		last = e.end
	}
	return append(dst, doc[last:]...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonString returns s as a JSON string.
func jsonString(s string) []byte { return appendJSONString(nil, s) }
