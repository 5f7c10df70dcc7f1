package guardrail

import "unicode/utf8"

// trie holds the normalised banned phrases, byte by byte, so that one walk
// from a position finds every phrase starting there and tells whether the text
// so far could still become one.
type trie struct {
	root  [256]int32 // children of the root; 0 means none (node 0 is the root)
	nodes []trieNode
	// composeSensitive is set when a phrase has a non-ASCII character, which text
	// arriving later could still compose into (e + U+0301 = é); see scan.
	composeSensitive bool
	maxLen           int
}

type trieNode struct {
	edges []trieEdge
	rule  int32 // index of the banned phrase ending here, -1 if none
}

type trieEdge struct {
	b  byte
	to int32
}

func newTrie() *trie {
	return &trie{nodes: []trieNode{{rule: -1}}}
}

// add inserts a normalised phrase; a duplicate keeps the first rule index.
func (t *trie) add(phrase string, rule int) {
	n := int32(0)
	for i := 0; i < len(phrase); i++ {
		next := t.child(n, phrase[i])
		if next == 0 {
			next = int32(len(t.nodes))
			t.nodes = append(t.nodes, trieNode{rule: -1})
			if n == 0 {
				t.root[phrase[i]] = next
			} else {
				t.nodes[n].edges = append(t.nodes[n].edges, trieEdge{phrase[i], next})
			}
		}
		n = next
		if phrase[i] >= utf8.RuneSelf {
			t.composeSensitive = true
		}
	}
	if t.nodes[n].rule < 0 {
		t.nodes[n].rule = int32(rule)
	}
	t.maxLen = max(t.maxLen, len(phrase))
}

func (t *trie) child(n int32, b byte) int32 {
	if n == 0 {
		return t.root[b]
	}
	for _, e := range t.nodes[n].edges {
		if e.b == b {
			return e.to
		}
	}
	return 0
}

func (t *trie) empty() bool { return len(t.nodes) == 1 }

// match is a banned phrase found at normalised bytes [start, end).
type match struct {
	start, end int
	rule       int
}

// scanState is what scan needs besides the text.
type scanState struct {
	prev      rune // last normalised rune before the text; -1 at the start
	final     bool // no text follows: undecided cases are decided
	firstOnly bool // stop at the first match (the stop action, prompts)
}

// scan finds banned phrases in t from left to right, taking the longest at each
// position and skipping past it. hold is the first byte that cannot be decided
// yet (a phrase may still complete there) or -1; nothing at or after hold is
// reported.
func (tr *trie) scan(t *normText, st scanState, dst []match) (ms []match, hold int) {
	inWord := isWord(st.prev) // the rune before i continues a word
	for i := 0; i < len(t.b); {
		if c := t.b[i]; c < utf8.RuneSelf {
			// The common case, decided as below without decoding: no phrase
			// starts with c, or c continues a word, where phrases do not start.
			w := asciiWord(c)
			if tr.root[c] == 0 || w && inWord {
				inWord = w
				i++
				continue
			}
		}
		r, size := utf8.DecodeRune(t.b[i:])
		if tr.root[t.b[i]] != 0 && (!needsBoundary(r) || !inWord) {
			end, rule, undecided := tr.walk(t, i, st.final)
			if end > 0 && (st.firstOnly || !undecided) {
				dst = append(dst, match{i, end, rule})
				if st.firstOnly {
					return dst, -1
				}
				last, _ := utf8.DecodeLastRune(t.b[:end])
				inWord = isWord(last)
				i = end
				continue
			}
			if undecided {
				return dst, i
			}
		}
		inWord = isWord(r)
		i += size
	}
	return dst, -1
}

// walk follows the trie from byte i. It returns the end of the longest phrase
// that matches with a word boundary after it (0 if none), and whether the
// outcome could still change with more text: the text ended inside the trie
// with a longer phrase possible, a phrase ending at the text's end awaits the
// next character for its boundary, or (for non-ASCII phrases) the last
// characters may still compose into another one.
func (tr *trie) walk(t *normText, i int, final bool) (end, rule int, undecided bool) {
	n := int32(0)
	awaitBoundary := false
	for j := i; ; j++ {
		if j == len(t.b) {
			more := len(tr.nodes[n].edges) > 0
			return end, rule, !final && (more || awaitBoundary || tr.composeSensitive)
		}
		n = tr.child(n, t.b[j])
		if n == 0 {
			return end, rule, !final && tr.composeSensitive && j >= t.lastSeg
		}
		if tr.nodes[n].rule < 0 {
			continue
		}
		last, _ := utf8.DecodeLastRune(t.b[:j+1])
		if j+1 == len(t.b) {
			if !final && needsBoundary(last) {
				awaitBoundary = true
				continue
			}
			end, rule = j+1, int(tr.nodes[n].rule)
			continue
		}
		if next, _ := utf8.DecodeRune(t.b[j+1:]); !needsBoundary(last) || !isWord(next) {
			end, rule = j+1, int(tr.nodes[n].rule)
		}
	}
}
