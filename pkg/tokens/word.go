package tokens

import (
	"unicode"
	"unicode/utf8"
)

// wordAt charges the word (a run of letters and combining marks) starting at i,
// together with its lead byte s[i-1] when lk is leadByte and with an apostrophe
// suffix ('s, 't, 're, 've, 'm, 'll, 'd): o200k keeps the suffix in the word's
// piece while cl100k makes it a piece of its own, so only the three together
// have the same edges in both. Inside the run the two encodings cut differently
// (o200k at case changes, cl100k before marks), but only from the run's own
// bytes, so the table's count for the isolated text holds in place.
func wordAt(t *wordTable, s string, i int, lk leadKind) (end, cost int) {
	end = lettersEnd(s, i)
	start := i
	if lk == leadByte {
		start--
	}
	switch {
	case lk == leadUnknown:
		return end, end - start
	case s[start] == '\'' && maybeContraction(s[i:]):
		// cl100k reads the apostrophe and what follows as a suffix piece.
		return end, end - start
	}
	if n := suffixLen(s, end); n > 0 {
		end += n
	} else if !wordEnds(s, end) {
		return end, end - start
	}
	n := end - start
	if n == 1 {
		return end, 1 // a one-byte piece is one token: nothing to look up
	}
	if c := t.lookup(s[start:end]); c > 0 && c < n {
		return end, c
	}
	return end, n
}

// suffixLen returns the length of the apostrophe suffix at j, or 0.
func suffixLen(s string, j int) int {
	if j+1 >= len(s) || s[j] != '\'' {
		return 0
	}
	// c|0x20 lower-cases ASCII letters and maps no other byte onto one.
	switch s[j+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if j+2 < len(s) && s[j+2]|0x20 == 'e' {
			return 3
		}
	case 'l':
		if j+2 < len(s) && s[j+2]|0x20 == 'l' {
			return 3
		}
	}
	return 0
}

// wordEnds reports whether a word's piece surely ends at j, where its letters
// end: an apostrophe followed by a non-ASCII letter is left in doubt, in case
// the suffix's case-insensitive match folds it onto a suffix letter.
func wordEnds(s string, j int) bool {
	return j+1 >= len(s) || s[j] != '\'' || s[j+1] < utf8.RuneSelf
}

// maybeContraction reports whether rest, following an apostrophe, may start one
// of the suffixes (case-insensitive). It over-approximates: a false positive only
// costs precision.
func maybeContraction(rest string) bool {
	if rest == "" {
		return false
	}
	switch rest[0] | 0x20 {
	case 's', 't', 'r', 'v', 'm', 'l', 'd':
		return true
	}
	return false
}

// letterAt reports whether a letter starts at i. A word may go on with combining
// marks but never starts with one: cl100k would join a leading mark to the
// punctuation before it.
func letterAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	if c := s[i]; c < utf8.RuneSelf {
		return byteClass[c] == clsLetter
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isLetter(r)
}

// lettersEnd returns the end of the run of letters and marks starting at i.
func lettersEnd(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if byteClass[c] != clsLetter {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isLetter(r) && !unicode.IsMark(r) {
			return i
		}
		i += size
	}
	return i
}

// isLetter is unicode.IsLetter with the blocks of the most written scripts
// answered without a table search.
func isLetter(r rune) bool {
	switch {
	case r >= 0xc0 && r <= 0x24f:
		return r != 0xd7 && r != 0xf7
	case r >= 0x410 && r <= 0x44f, r >= 0x4e00 && r <= 0x9fff, r >= 0xac00 && r <= 0xd7a3:
		return true
	}
	return unicode.IsLetter(r)
}
