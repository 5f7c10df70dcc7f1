// Package tokens gives cheap upper bounds on the number of tokens OpenAI's
// o200k_base and cl100k_base tokenizers produce for a text, so that quota can be
// reserved before a provider is called without ever reserving too little.
//
// The bound rests on two properties of tiktoken's byte-level BPE, not on
// calibration:
//
//   - Text is first cut into pieces by a regular expression and no token crosses a
//     piece boundary, so a text's count is the sum over its pieces.
//   - A piece never yields more tokens than it has bytes, and a piece that is a
//     vocabulary entry yields exactly one (tiktoken looks it up before merging).
//
// The scanner reproduces the piece boundaries of both encodings for the shapes
// that matter (words with their leading space or punctuation and apostrophe
// suffix, digit runs, whitespace runs). A word piece found in an embedded table, generated from both
// vocabularies, is charged its exact token count; a piece the scanner cannot pin
// down with certainty is charged one token per byte. Everything else being
// additive, the sum is an upper bound for both encodings at once.
package tokens

import "unicode/utf8"

// EstimateText returns an upper bound on the number of tokens of s under both
// o200k_base and cl100k_base. It allocates nothing and reads s in one pass.
func EstimateText(s string) int {
	return estimate(defaultWords(), s)
}

// CountText returns the number of tokens to charge for output text whose provider
// reported no usage. It is EstimateText: the same upper bound, so a consumer is
// never charged less than the real count (and about a third more for English
// prose), which is the right side to err on when the provider did not say.
func CountText(s string) int {
	return EstimateText(s)
}

func estimate(t *wordTable, s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		var cost int
		switch byteClass[c] {
		case clsLetter:
			i, cost = wordAt(t, s, i, unknownIfByte(leadOf(s, i)))
		case clsDigit:
			i, cost = digitsAt(s, i)
		case clsSpace:
			if (c == ' ' || c == '\t') && letterAt(s, i+1) {
				i, cost = wordAt(t, s, i+1, leadByte)
				break
			}
			i, cost = spacesAt(s, i)
		case clsPunct:
			if letterAt(s, i+1) && leadOf(s, i+1) == leadByte {
				i, cost = wordAt(t, s, i+1, leadByte)
				break
			}
			i, cost = i+1, 1
		case clsControl:
			i, cost = i+1, 1
		default:
			if letterAt(s, i) {
				i, cost = wordAt(t, s, i, unknownIfByte(leadOf(s, i)))
				break
			}
			i, cost = nonASCIIAt(s, i)
		}
		n += cost
	}
	return n
}

// unknownIfByte guards a word reached without its lead: the byte before was
// charged on its own, so the piece cannot be looked up as a whole. (The loop
// dispatches leads before reaching their word, so this does not happen.)
func unknownIfByte(lk leadKind) leadKind {
	if lk == leadByte {
		return leadUnknown
	}
	return lk
}

// leadKind says how the byte before a word relates to the word's piece.
type leadKind uint8

const (
	// leadNone: the piece starts with the word (text start, or the byte before
	// ended another piece).
	leadNone leadKind = iota
	// leadByte: the byte before is the first byte of the word's piece.
	leadByte
	// leadUnknown: the piece boundary is not certain; charge by bytes.
	leadUnknown
)

// leadOf classifies s[i-1] for a word starting at i. Both pattern strings let
// one byte that is neither letter, digit nor newline open a word
// piece, unless an earlier piece already took it: a punctuation byte is taken by
// a punctuation run that started before it (at another punctuation byte or at a
// single space, `?[^\s\p{L}\p{N}]+`), and o200k lets a '/' join the newlines that
// end such a run.
func leadOf(s string, i int) leadKind {
	if i == 0 {
		return leadNone
	}
	p := s[i-1]
	switch byteClass[p] {
	case clsDigit:
		return leadNone
	case clsSpace:
		switch p {
		case ' ', '\t':
			return leadByte
		case '\n', '\r':
			return leadNone
		}
		return leadUnknown
	case clsPunct:
	default:
		return leadUnknown
	}
	if i == 1 {
		return leadByte
	}
	q := s[i-2]
	switch {
	case q == ' ' || byteClass[q] == clsPunct || byteClass[q] == clsControl:
		return leadNone
	case q >= utf8.RuneSelf:
		return leadUnknown
	case p == '/' && (q == '\n' || q == '\r'):
		return leadUnknown
	}
	return leadByte
}
