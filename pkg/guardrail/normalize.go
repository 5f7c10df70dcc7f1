package guardrail

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// span is the byte range [start, end) of the original text that one normalised
// byte came from, so that a match found in normalised text can be redacted or
// cut in the original.
type span struct{ start, end int32 }

// normText is a normalised text with its map back to the original.
type normText struct {
	b   []byte
	src []span // one per byte of b
	// lastSeg is where the output of the last original segment starts in b:
	// combining characters arriving later may still change those bytes.
	lastSeg int
	scratch []byte
	it      norm.Iter
	// visible is the input without invisible characters and offs the input
	// offset of each of its bytes; offs is nil when nothing was removed.
	visible []byte
	offs    []int32
}

// folder turns text into the form banned phrases are matched in:
//
//  1. removal of invisible characters (format characters such as zero-width
//     space/joiner, soft hyphen, bidi controls; variation selectors; controls);
//  2. Unicode NFKC, so fullwidth, ligature, circled and other compatibility
//     forms become their plain letters, and decomposed accents compose (also
//     across a removed invisible character);
//  3. removal of decorative combining marks that did not compose with their
//     base (strike-through, "Zalgo" stacks); with foldAccents, of every accent;
//  4. confusable folding of common Cyrillic/Greek/Latin look-alikes to Latin;
//  5. lower casing (ß folds to "ss");
//  6. with leet, digits and @/$ fold to the letters they imitate (0→o 1→i 3→e
//     4→a 5→s 7→t 8→b 9→g @→a $→s);
//  7. every run of white space becomes one space.
//
// It works per NFKC segment so that every output byte knows its source bytes.
type folder struct {
	leet, foldAccents bool
}

// normalize replaces t's content with the normalised form of in.
func (f folder) normalize(t *normText, in string) {
	s := t.stripInvisible(in)
	// Most text normalises to about its own length.
	t.b, t.src, t.lastSeg = slices.Grow(t.b[:0], len(s)), slices.Grow(t.src[:0], len(s)), 0
	defer t.mapSpans()
	for i := 0; i < len(s); {
		if isPlainASCII(s, i) {
			i = f.asciiRun(t, s, i)
			continue
		}
		j := i + 1
		for j < len(s) && !isPlainASCII(s, j) {
			j++
		}
		f.normalizeRun(t, s, i, j)
		i = j
	}
}

// asciiRun normalises the plain ASCII characters from s[i] on, the bulk of
// most text, and returns where they end. NFKC leaves ASCII alone, and an ASCII
// character not followed by a combining character is a segment of its own. It
// does what appendRune does for each, without the general case's overhead,
// and eight at a time for words that fold to lower case and nothing else.
func (f folder) asciiRun(t *normText, s string, i int) int {
	end := i
	for end+8 <= len(s) && load8(s[end:])&0x8080808080808080 == 0 {
		end += 8 // eight ASCII bytes
	}
	for end < len(s) && s[end] < utf8.RuneSelf {
		end++
	}
	if end < len(s) {
		end-- // followed by a non-ASCII byte, which might combine with it
	}
	b, src, last := t.b, t.src, t.lastSeg // locals stay in registers
	for i < end {
		n := min(8, end-i)
		if n == 8 && !f.leet {
			if lower, ok := lowerWord(load8(s[i:]), len(b) > 0 && b[len(b)-1] == ' '); ok {
				b = binary.LittleEndian.AppendUint64(b, lower)
				o := int32(i)
				src = append(src, span{o, o + 1}, span{o + 1, o + 2}, span{o + 2, o + 3}, span{o + 3, o + 4},
					span{o + 4, o + 5}, span{o + 5, o + 6}, span{o + 6, o + 7}, span{o + 7, o + 8})
				last, i = len(b)-1, i+8
				continue
			}
		}
		for end := i + n; i < end; i++ {
			last = len(b)
			b, src = f.foldASCII(b, src, s[i], i)
		}
	}
	t.b, t.src, t.lastSeg = b, src, last
	return end
}

// lowerWord returns the 8 ASCII bytes of w lower-cased, and false unless that
// is all folding does to them: they are printable, and no space follows a
// space (or the space ending the output so far, when afterSpace).
func lowerWord(w uint64, afterSpace bool) (uint64, bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if !printableASCII8(w) {
		return 0, false
	}
	// Per printable byte x, x+c cannot carry into the next byte; bit 7 of
	// x+(0x80-n) tells x >= n.
	spaces := ^(w + (0x80-'!')*ones) & highs
	if spaces&(spaces<<8) != 0 || afterSpace && spaces&0x80 != 0 {
		return 0, false
	}
	upper := (w + (0x80-'A')*ones) &^ (w + (0x80-'Z'-1)*ones) & highs
	return w | upper>>2, true // 0x80>>2 is the case bit 0x20
}

// foldASCII appends the folded form of c, the plain ASCII character at i.
func (f folder) foldASCII(b []byte, src []span, c byte, i int) ([]byte, []span) {
	sp := span{int32(i), int32(i + 1)}
	switch {
	case c > ' ' && c != 0x7F:
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if f.leet {
			c = byte(leet(rune(c)))
		}
		return append(b, c), append(src, sp)
	case c == ' ' || '\t' <= c && c <= '\r': // white space, as unicode.IsSpace
		if n := len(b); n > 0 && b[n-1] == ' ' {
			src[n-1].end = sp.end // one space stands for the whole run
			return b, src
		}
		return append(b, ' '), append(src, sp)
	}
	// Other control characters are invisible: dropped (stripInvisible removed
	// them already).
	return b, src
}

// stripInvisible returns s without its invisible characters, recording where
// the remaining bytes were for mapSpans.
func (t *normText) stripInvisible(s string) string {
	t.offs = t.offs[:0]
	first := indexInvisible(s)
	if first < 0 {
		t.offs = nil
		return s
	}
	t.visible = append(t.visible[:0], s[:first]...)
	for i := range first {
		t.offs = append(t.offs, int32(i))
	}
	for i := first; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isInvisible(r) {
			t.visible = append(t.visible, s[i:i+n]...)
			for k := range n {
				t.offs = append(t.offs, int32(i+k))
			}
		}
		i += n
	}
	return string(t.visible)
}

// mapSpans turns spans over the visible text into spans over the input.
func (t *normText) mapSpans() {
	if t.offs == nil {
		return
	}
	for i, sp := range t.src {
		t.src[i] = span{t.offs[sp.start], t.offs[sp.end-1] + 1}
	}
}

func indexInvisible(s string) int {
	for i := 0; i < len(s); {
		// Skip printable ASCII eight bytes at a time: most text is.
		for i+8 <= len(s) && printableASCII8(load8(s[i:])) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' && !asciiSpace(c) || c == 0x7F {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if isInvisible(r) {
			return i
		}
		i += n
	}
	return -1
}

// printableASCII8 reports whether the bytes of w are all in ' '..'~'. Per
// byte x < 0x80, (x&0x7F)+1 has bit 7 set only for 0x7F and (x&0x7F)+0x60 only
// for x >= 0x20; no sum carries into the next byte.
func printableASCII8(w uint64) bool {
	const low7, ones, highs = 0x7F7F7F7F7F7F7F7F, 0x0101010101010101, 0x8080808080808080
	del := w&low7 + ones
	printable := w&low7 + 0x60*ones
	return (del|w)&highs == 0 && printable&highs == highs
}

// load8 reads the first 8 bytes of s as a little-endian word (the compiler
// merges the byte loads into one).
func load8(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func asciiSpace(c byte) bool {
	return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isPlainASCII reports whether s[i] is ASCII and not followed by a byte that
// could combine with it.
func isPlainASCII(s string, i int) bool {
	return s[i] < utf8.RuneSelf && (i+1 == len(s) || s[i+1] < utf8.RuneSelf)
}

// normalizeRun normalises s[from:to], which starts and ends at segment
// boundaries, through NFKC segment by segment.
func (f folder) normalizeRun(t *normText, s string, from, to int) {
	t.it.InitString(norm.NFKC, s[from:to])
	group := -1 // first output byte of segments that consumed no input yet
	for !t.it.Done() {
		start := from + t.it.Pos()
		seg := t.it.Next()
		end := from + t.it.Pos()
		if group < 0 {
			group = len(t.b)
			t.lastSeg = group
		}
		if f.foldAccents {
			t.scratch = norm.NFD.Append(t.scratch[:0], seg...)
			seg = t.scratch
		}
		sp := span{int32(start), int32(end)}
		for len(seg) > 0 {
			r, n := utf8.DecodeRune(seg)
			seg = seg[n:]
			f.appendRune(t, r, sp)
		}
		if start == end {
			continue // a decomposition into several starters: see the next segment
		}
		for i := group; i < len(t.src); i++ {
			if t.src[i].start == t.src[i].end {
				t.src[i] = sp
			}
		}
		group = -1
	}
	for i := max(group, 0); group >= 0 && i < len(t.src); i++ {
		if t.src[i].start == t.src[i].end {
			t.src[i].end = int32(to)
		}
	}
}

// appendRune appends the folded form of r, coming from sp.
func (f folder) appendRune(t *normText, r rune, sp span) {
	if r < utf8.RuneSelf && r > ' ' && r != 0x7F {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		} else if f.leet {
			r = leet(r)
		}
		t.b = append(t.b, byte(r))
		t.src = append(t.src, sp)
		return
	}
	switch {
	case unicode.IsSpace(r):
		if n := len(t.b); n > 0 && t.b[n-1] == ' ' {
			t.src[n-1].end = sp.end // one space stands for the whole run
			return
		}
		t.add(' ', sp)
		return
	case isInvisible(r), isDecorativeMark(r), f.foldAccents && unicode.Is(unicode.Mn, r):
		// Invisible characters are removed before NFKC; one coming out of it
		// (none does in Unicode 15) would still be dropped here.
		return
	}
	if c, ok := confusable(r); ok {
		r = c
	} else {
		r = unicode.ToLower(r)
		if c, ok := confusable(r); ok {
			r = c
		}
	}
	if r == 'ß' {
		t.add('s', sp)
		r = 's'
	}
	if f.leet {
		r = leet(r)
	}
	t.add(r, sp)
}

func (t *normText) add(r rune, sp span) {
	n := len(t.b)
	t.b = utf8.AppendRune(t.b, r)
	for range len(t.b) - n {
		t.src = append(t.src, sp)
	}
}

// isInvisible reports characters that render as nothing and so could hide
// inside a word: format characters, controls other than white space,
// variation selectors and the other default-ignorable code points.
func isInvisible(r rune) bool {
	return !unicode.IsSpace(r) && unicode.In(r, unicode.Cf, unicode.Cc, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// isDecorativeMark reports combining marks of the generic diacritic blocks. NFKC
// already composed those that form a letter, so what is left only decorates;
// script-specific marks (Indic vowel signs...) are kept: they change words.
func isDecorativeMark(r rune) bool {
	return (r >= 0x0300 && r <= 0x036F) || (r >= 0x1AB0 && r <= 0x1AFF) ||
		(r >= 0x1DC0 && r <= 0x1DFF) || (r >= 0x20D0 && r <= 0x20FF) ||
		(r >= 0xFE20 && r <= 0xFE2F)
}

func leet(r rune) rune {
	switch r {
	case '0':
		return 'o'
	case '1':
		return 'i'
	case '3':
		return 'e'
	case '4', '@':
		return 'a'
	case '5', '$':
		return 's'
	case '7':
		return 't'
	case '8':
		return 'b'
	case '9':
		return 'g'
	}
	return r
}

// isWord reports characters that continue a word, for whole-word matching.
// The underscore and apostrophe separate words: "bad_thing" contains "bad".
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// asciiWord is isWord for an ASCII character (c|0x20 lower-cases letters).
func asciiWord(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9'
}

// needsBoundary reports whether a phrase starting or ending with r must meet a
// word boundary there. Scripts written without spaces between words have no
// boundaries to meet, so their phrases match anywhere.
func needsBoundary(r rune) bool {
	if r < utf8.RuneSelf {
		return isWord(r)
	}
	return isWord(r) && !unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana,
		unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}
