package respfilter

import (
	"math/bits"
	"strings"

	"github.com/tidwall/gjson"
)

// The fast path. A generic gjson walk costs several passes over a chunk:
// validation, then ForEach over the document, each choice and each delta. scan
// reads the same view in one strict pass that validates as it goes, skipping
// what the filter does not read. It gives up (and the general path runs)
// whenever it is not certain to read the document as gjson does: a key the
// filter matches that is escaped or not ASCII (case folding, \u escapes), an
// unusual index, deep nesting, or anything invalid.

// maxScanDepth is the nesting the fast path follows; deeper documents are left
// to the general path.
const maxScanDepth = 32

// jscan is a strict JSON scanner over one document. It accepts exactly the
// JSON grammar gjson.Valid accepts (or less). Its methods return the position
// after what they read; on anything it does not accept they set bad and
// return len(doc), which ends every loop.
type jscan struct {
	doc   string
	bad   bool
	keyAt int // where the key of the member last read starts
}

// docHead remembers the start of a stream's last chunk, up to its "choices"
// key, and what the filter read there. The chunks of a stream repeat the same
// members (id, object, created, model, system_fingerprint) before "choices":
// when a chunk starts with the same bytes, the scan resumes at "choices".
// That is exact because what a scan reads before a position depends only on
// the bytes before it.
type docHead struct {
	doc                string // "" when none
	models             []gjson.Result
	id, created, usage gjson.Result
}

// scan fills v from doc in one pass and reports success; false means doc is
// not a JSON object or the fast path is not sure, and leaves v unspecified.
// h, if not nil, is the stream's head cache, used and updated.
func (v *docView) scan(doc, body string, h *docHead) bool {
	v.reset()
	if v.noScan {
		return false
	}
	p := jscan{doc: doc}
	i := p.ws(0)
	if !p.is(i, '{') {
		return false
	}
	var key string
	var plain, ok bool
	resumed := h != nil && h.doc != "" && strings.HasPrefix(doc, h.doc)
	if resumed {
		h.restore(v)
		key, plain, i, ok = p.member(len(h.doc))
	} else {
		key, plain, i, ok = p.firstMember(i)
	}
	for ok {
		var end int
		switch {
		case !plain:
			end = p.fail() // might unescape or fold to a field name
		case keyIs(key, "model"):
			end = p.value(i, 1)
			v.models = append(v.models, p.result(i, end))
		case keyIs(key, "id"):
			end = p.value(i, 1)
			v.id = p.result(i, end)
		case keyIs(key, "created"):
			end = p.value(i, 1)
			v.created = p.result(i, end)
		case keyIs(key, "choices"):
			if h != nil && !resumed && !v.choices.Exists() {
				h.save(doc[:p.keyAt], v)
			}
			end = p.choices(v, i, body)
		case keyIs(key, "usage"):
			end = p.value(i, 1)
			v.usage = p.result(i, end)
		default:
			end = p.value(i, 1)
		}
		key, plain, i, ok = p.nextMember(end)
	}
	return !p.bad && p.ws(i) == len(doc)
}

// save records head, the start of a document up to its first "choices" key,
// and v as read from it.
func (h *docHead) save(head string, v *docView) {
	h.doc = head
	h.models = append(h.models[:0], v.models...)
	h.id, h.created, h.usage = v.id, v.created, v.usage
}

// restore sets v, just reset, as read from the head.
func (h *docHead) restore(v *docView) {
	v.models = append(v.models, h.models...)
	v.id, v.created, v.usage = h.id, h.created, h.usage
}

// choices reads the "choices" value at i into v.
func (p *jscan) choices(v *docView, i int, body string) int {
	if !p.is(i, '[') {
		end := p.value(i, 1)
		v.setChoices(p.result(i, end))
		return end
	}
	v.setChoices(gjson.Result{}) // the array's raw is known at its end
	j, ok := p.firstElem(i)
	for ok {
		v.elems++
		var end int
		if p.is(j, '{') {
			end = p.choice(v.addChoice(), j, body)
		} else {
			end = p.value(j, 2)
		}
		j, ok = p.nextElem(end)
	}
	v.choices = p.result(i, j)
	return j
}

// choice reads the choice object at i into c.
func (p *jscan) choice(c *choiceView, i int, body string) int {
	key, plain, j, ok := p.firstMember(i)
	for ok {
		var end int
		switch {
		case !plain:
			end = p.fail()
		case keyIs(key, "index"):
			end = p.value(j, 3)
			c.index = p.index(j, end)
		case keyIs(key, "finish_reason"):
			end = p.value(j, 3)
			c.finish = append(c.finish, p.result(j, end))
		case keyIs(key, body):
			c.newBody()
			if p.is(j, '{') {
				end = p.body(c, j)
			} else {
				end = p.value(j, 3)
			}
		default:
			end = p.value(j, 3)
		}
		key, plain, j, ok = p.nextMember(end)
	}
	return j
}

// body reads the delta or message object at i into c.
func (p *jscan) body(c *choiceView, i int) int {
	key, plain, j, ok := p.firstMember(i)
	for ok {
		var end int
		switch {
		case !plain:
			end = p.fail()
		case keyIs(key, "content"):
			end = p.value(j, 4)
			c.contents = append(c.contents, p.result(j, end))
		default:
			end = p.value(j, 4)
		}
		key, plain, j, ok = p.nextMember(end)
	}
	return j
}

// keyIs reports whether the plain ASCII key k names field, as isKey does.
// Keys are mostly spelled exactly; strings.EqualFold only matches an ASCII key
// with a field of its length, so the length test saves most calls.
func keyIs(k, field string) bool {
	return k == field || len(k) == len(field) && strings.EqualFold(k, field)
}

// index returns the choice index at [s, end) as gjson's Int does.
func (p *jscan) index(s, end int) int64 {
	if n, ok := smallUint(p.doc[s:end]); ok && !p.bad {
		return n
	}
	return p.result(s, end).Int()
}

// result returns the value at [s, end) as gjson's ForEach gives it. The
// common values are built directly; gjson.Parse does the others (unescaping,
// float parsing) exactly as ForEach would.
func (p *jscan) result(s, end int) gjson.Result {
	if p.bad || s >= end {
		return gjson.Result{}
	}
	raw := p.doc[s:end]
	r := gjson.Result{Raw: raw, Index: s}
	switch raw[0] {
	case '"':
		if strings.IndexByte(raw, '\\') >= 0 {
			break
		}
		r.Type, r.Str = gjson.String, raw[1:len(raw)-1]
		return r
	case '{', '[':
		r.Type = gjson.JSON
		return r
	case 'n':
		return r // gjson.Null is the zero Type
	default:
		if n, ok := smallUint(raw); ok {
			r.Type, r.Num = gjson.Number, float64(n)
			return r
		}
	}
	r = gjson.Parse(raw)
	r.Index = s
	return r
}

// smallUint parses raw when it is at most 15 decimal digits, which a float64
// holds exactly: the value gjson's float parsing gives.
func smallUint(raw string) (int64, bool) {
	if len(raw) == 0 || len(raw) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(raw[i]-'0')
	}
	return n, true
}

func (p *jscan) fail() int {
	p.bad = true
	return len(p.doc)
}

// is reports whether doc[i] is c.
func (p *jscan) is(i int, c byte) bool {
	return i < len(p.doc) && p.doc[i] == c
}

// ws skips JSON white space.
func (p *jscan) ws(i int) int {
	for ; i < len(p.doc); i++ {
		if c := p.doc[i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return i
}

// firstMember starts the object at i ('{'). It returns its first key and
// where that key's value starts, or ok false and the end of an empty object.
func (p *jscan) firstMember(i int) (key string, plain bool, at int, ok bool) {
	i = p.ws(i + 1)
	if p.is(i, '}') {
		return "", false, i + 1, false
	}
	return p.member(i)
}

// nextMember continues the object after a value ending at i.
func (p *jscan) nextMember(i int) (key string, plain bool, at int, ok bool) {
	i = p.ws(i)
	switch {
	case p.is(i, ','):
		return p.member(p.ws(i + 1))
	case p.is(i, '}'):
		return "", false, i + 1, false
	}
	return "", false, p.fail(), false
}

// member reads `"key":` at i. plain reports a key without escapes and all
// ASCII, which the filter can match without unescaping or Unicode folding.
func (p *jscan) member(i int) (key string, plain bool, at int, ok bool) {
	if !p.is(i, '"') {
		return "", false, p.fail(), false
	}
	p.keyAt = i
	end, flags := p.str(i)
	j := p.ws(end)
	if p.bad || !p.is(j, ':') {
		return "", false, p.fail(), false
	}
	return p.doc[i+1 : end-1], flags == 0, p.ws(j + 1), true
}

// firstElem starts the array at i ('['): it returns where the first element
// starts, or ok false and the end of an empty array.
func (p *jscan) firstElem(i int) (at int, ok bool) {
	i = p.ws(i + 1)
	if p.is(i, ']') {
		return i + 1, false
	}
	return i, true
}

// nextElem continues the array after an element ending at i.
func (p *jscan) nextElem(i int) (at int, ok bool) {
	i = p.ws(i)
	switch {
	case p.is(i, ','):
		return p.ws(i + 1), true
	case p.is(i, ']'):
		return i + 1, false
	}
	return p.fail(), false
}

// value skips the value starting at i, at nesting depth.
func (p *jscan) value(i, depth int) int {
	if i >= len(p.doc) {
		return p.fail()
	}
	switch c := p.doc[i]; {
	case c == '"':
		end, _ := p.str(i)
		return end
	case c == '{':
		return p.object(i, depth+1)
	case c == '[':
		return p.array(i, depth+1)
	case c == '-' || c >= '0' && c <= '9':
		return p.number(i)
	case c == 't':
		return p.literal(i, "true")
	case c == 'f':
		return p.literal(i, "false")
	case c == 'n':
		return p.literal(i, "null")
	}
	return p.fail()
}

func (p *jscan) object(i, depth int) int {
	if depth > maxScanDepth {
		return p.fail()
	}
	_, _, j, ok := p.firstMember(i)
	for ok {
		_, _, j, ok = p.nextMember(p.value(j, depth))
	}
	return j
}

func (p *jscan) array(i, depth int) int {
	if depth > maxScanDepth {
		return p.fail()
	}
	j, ok := p.firstElem(i)
	for ok {
		j, ok = p.nextElem(p.value(j, depth))
	}
	return j
}

// String flags reported by jscan.str.
const (
	strEscaped  = 1 << iota // the string has a backslash escape
	strNonASCII             // the string has a byte >= 0x80
)

// str scans the string whose opening quote is at i.
func (p *jscan) str(i int) (end, flags int) {
	doc := p.doc
	var seen uint64 // the plain bytes, or-ed: bit 7 of a byte tells non-ASCII
	for i++; i < len(doc); i++ {
		// Most bytes are plain: skip them eight at a time, up to the first
		// special one.
		for i+8 <= len(doc) {
			w := load8(doc, i)
			m := special8(w)
			if m != 0 {
				n := bits.TrailingZeros64(m) &^ 7 // bits before the special byte
				seen |= w & (1<<n - 1)
				i += n / 8
				break
			}
			seen |= w
			i += 8
		}
		for i < len(doc) && doc[i] >= ' ' && doc[i] != '"' && doc[i] != '\\' {
			seen |= uint64(doc[i]) // the last few bytes of the document
			i++
		}
		if i == len(doc) {
			break
		}
		switch doc[i] {
		case '"':
			if seen&0x8080808080808080 != 0 {
				flags |= strNonASCII
			}
			return i + 1, flags
		case '\\':
			flags |= strEscaped
			if i = p.escape(i + 1); p.bad {
				return i, flags
			}
		default: // a control character
			return p.fail(), flags
		}
	}
	return p.fail(), flags
}

// load8 reads doc[i:i+8] as a little-endian word (the compiler merges the
// byte loads into one).
func load8(doc string, i int) uint64 {
	b := doc[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// special8 returns a mask whose lowest set bit is bit 7 of the first byte of
// w that is a quote, a backslash or a control character (0 if none). It
// applies the classic tests for a zero byte, (x-1) &^ x, and for a byte below
// n, (x-n) &^ x, to all bytes at once; their borrows can only set bits above
// the first hit, so the lowest bit is exact.
func special8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((q-ones)&^q | (b-ones)&^b | (w-ones*' ')&^w) & highs
}

// escape checks the escape sequence after the backslash at i-1 and returns
// the position of its last byte.
func (p *jscan) escape(i int) int {
	if i >= len(p.doc) {
		return p.fail()
	}
	switch p.doc[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i
	case 'u':
		if i+4 >= len(p.doc) {
			return p.fail()
		}
		for _, c := range []byte(p.doc[i+1 : i+5]) {
			if !isHex(c) {
				return p.fail()
			}
		}
		return i + 4
	}
	return p.fail()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jscan) number(i int) int {
	if p.is(i, '-') {
		i++
	}
	switch {
	case p.is(i, '0'):
		i++
	case i < len(p.doc) && p.doc[i] >= '1' && p.doc[i] <= '9':
		i = p.digits(i)
	default:
		return p.fail()
	}
	if p.is(i, '.') {
		if i = p.digits(i + 1); p.bad {
			return i
		}
	}
	if p.is(i, 'e') || p.is(i, 'E') {
		i++
		if p.is(i, '+') || p.is(i, '-') {
			i++
		}
		i = p.digits(i)
	}
	return i
}

// digits scans one or more decimal digits.
func (p *jscan) digits(i int) int {
	start := i
	for i < len(p.doc) && p.doc[i] >= '0' && p.doc[i] <= '9' {
		i++
	}
	if i == start {
		return p.fail()
	}
	return i
}

func (p *jscan) literal(i int, lit string) int {
	if !strings.HasPrefix(p.doc[i:], lit) {
		return p.fail()
	}
	return i + len(lit)
}
