package tokens

import (
	"unicode"
	"unicode/utf8"
)

// Byte classes of the scanner. Non-ASCII bytes are clsHigh.
const (
	clsHigh    = iota
	clsLetter  // A-Z a-z
	clsDigit   // 0-9
	clsSpace   // space \t \n \v \f \r: \s in both pattern strings
	clsPunct   // printable ASCII that is neither letter, digit nor space
	clsControl // other ASCII controls and DEL: punctuation to the patterns, never a lead we look up
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = clsLetter
		case c >= '0' && c <= '9':
			t[c] = clsDigit
		case c == ' ', c >= '\t' && c <= '\r':
			t[c] = clsSpace
		case c > ' ' && c < 0x7f:
			t[c] = clsPunct
		default:
			t[c] = clsControl
		}
	}
	return t
}()

// Token counts of whitespace-only pieces, index = length, maximum of the two
// encodings. Checked against the real tokenizers by the tests; longer runs are
// charged by their bytes.
var (
	spaceRunTokens = [...]uint8{0,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	tabRunTokens = [...]uint8{0,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
		3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4,
		4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
	newlineRunTokens = [...]uint8{0,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2,
		2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3,
		3, 3, 4, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5,
		5, 5, 5, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 5}
	// crlfRunTokens is indexed by the number of "\r\n" pairs.
	crlfRunTokens = [...]uint8{0,
		1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
		6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10}
)

// spacesAt charges the ASCII whitespace run starting at i. When the run's last
// byte is the lead of a following word it is left to the word (end stops before
// it). The exact shapes recognised are newlines followed by spaces or by tabs,
// cut as the patterns cut them: `\s*[\r\n]+` takes the newlines, `\s+(?!\S)` all
// but the last of the spaces, and the last space goes with what follows. Any
// other shape, or a run touching non-ASCII bytes (which may be Unicode
// whitespace and extend the pieces), is charged by its bytes.
func spacesAt(s string, i int) (end, cost int) {
	j := i
	for j < len(s) && byteClass[s[j]] == clsSpace {
		j++
	}
	end = j
	word := letterAt(s, j)
	if word && (s[j-1] == ' ' || s[j-1] == '\t') {
		end = j - 1
	}
	if (i > 0 && s[i-1] >= utf8.RuneSelf) || (j < len(s) && s[j] >= utf8.RuneSelf && !word) {
		return end, end - i
	}
	k := i
	for k < j && (s[k] == '\n' || s[k] == '\r') {
		k++
	}
	if !uniform(s[k:j]) {
		return end, end - i
	}
	cost = newlinesCost(s, i, k)
	if m := j - k; m > 0 {
		switch {
		case j == len(s):
			cost += runCost(s[k], m)
		case end < j:
			cost += runCost(s[k], m-1)
		default:
			// The last byte joins the next piece, which is charged by
			// bytes, or stands alone: one token at most.
			cost += runCost(s[k], m-1) + 1
		}
	}
	return end, cost
}

// newlinesCost charges the newlines s[i:k] that open a whitespace run. They form
// one piece only after a letter, a digit or the text start; after punctuation
// they are swallowed by its piece (`[\r\n]*`), which is charged by bytes.
func newlinesCost(s string, i, k int) int {
	n := k - i
	if n == 0 {
		return 0
	}
	if i > 0 && byteClass[s[i-1]] != clsLetter && byteClass[s[i-1]] != clsDigit {
		return n
	}
	if m, ok := repeats(s[i:k], "\n"); ok && m < len(newlineRunTokens) {
		return int(newlineRunTokens[m])
	}
	if m, ok := repeats(s[i:k], "\r\n"); ok && m < len(crlfRunTokens) {
		return int(crlfRunTokens[m])
	}
	return n
}

// repeats returns how many times s repeats unit, if it is made of nothing else.
func repeats(s, unit string) (int, bool) {
	if len(s)%len(unit) != 0 {
		return 0, false
	}
	for p := 0; p < len(s); p += len(unit) {
		if s[p:p+len(unit)] != unit {
			return 0, false
		}
	}
	return len(s) / len(unit), true
}

// uniform reports whether s is empty or made of only spaces or only tabs.
func uniform(s string) bool {
	for p := 1; p < len(s); p++ {
		if s[p] != s[0] {
			return false
		}
	}
	return s == "" || s[0] == ' ' || s[0] == '\t'
}

// runCost charges a piece of m spaces (or tabs when c is a tab).
func runCost(c byte, m int) int {
	table := spaceRunTokens[:]
	if c == '\t' {
		table = tabRunTokens[:]
	}
	if m < len(table) {
		return int(table[m])
	}
	return m
}

// digitsAt charges an ASCII digit run. Both encodings cut digits into groups of
// at most three (`\p{N}{1,3}`) and every such group is a single token in both
// (checked by the tests), unless a non-ASCII number touches the run and shifts
// the groups.
func digitsAt(s string, i int) (end, cost int) {
	j := i
	for j < len(s) && byteClass[s[j]] == clsDigit {
		j++
	}
	if numberBefore(s, i) || numberAfter(s, j) {
		return j, j - i
	}
	return j, (j - i + 2) / 3
}

func numberBefore(s string, i int) bool {
	if i == 0 || s[i-1] < utf8.RuneSelf {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsNumber(r)
}

func numberAfter(s string, j int) bool {
	if j == len(s) || s[j] < utf8.RuneSelf {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[j:])
	return unicode.IsNumber(r)
}

// nonASCIIAt charges a run of non-ASCII bytes by its bytes. Invalid bytes count
// three: tokenizers see them as U+FFFD.
func nonASCIIAt(s string, i int) (end, cost int) {
	j := i
	for j < len(s) && s[j] >= utf8.RuneSelf {
		j++
	}
	if utf8.ValidString(s[i:j]) {
		return j, j - i
	}
	for k := i; k < j; {
		r, size := utf8.DecodeRuneInString(s[k:j])
		if r == utf8.RuneError && size == 1 {
			cost += 3
		} else {
			cost += size
		}
		k += size
	}
	return j, cost
}
