package tokens

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"sync"
)

// wordsGz lists word pieces whose exact token count is known, one per line: the
// count (one digit, the larger of the two encodings) followed by the piece bytes
// (an optional lead byte, letters of any script, an optional apostrophe suffix). It is
// generated from the real vocabularies by `go test -run TestWordsFile -update`.
//
//go:embed words.txt.gz
var wordsGz []byte

// Each table slot holds a 61-bit fingerprint of the piece and its count in the
// low three bits; 0 marks an empty slot.
const (
	countBits = 3
	countMask = 1<<countBits - 1
	maxCount  = countMask
)

// wordTable is an open-addressing hash set of piece fingerprints. The hash seed
// is drawn per process, so no input can be crafted to collide with an entry and
// be undercounted. The table is immutable once built.
type wordTable struct {
	seed  maphash.Seed
	slots []uint64
	shift uint
}

// slot splits a piece's hash into its fingerprint (never 0, count bits clear)
// and its home slot.
func (t *wordTable) slot(h uint64) (fp, home uint64) {
	fp = h &^ countMask
	if fp == 0 {
		fp = 1 << countBits
	}
	return fp, h >> t.shift
}

// lookup returns the token count of piece, or 0 when the piece is unknown.
func (t *wordTable) lookup(piece string) int {
	fp, i := t.slot(maphash.String(t.seed, piece))
	mask := uint64(len(t.slots) - 1)
	for ; ; i = (i + 1) & mask {
		e := t.slots[i]
		if e == 0 {
			return 0
		}
		if e&^countMask == fp {
			return int(e & countMask)
		}
	}
}

func (t *wordTable) insert(piece []byte, count int) {
	fp, i := t.slot(maphash.Bytes(t.seed, piece))
	mask := uint64(len(t.slots) - 1)
	for t.slots[i] != 0 && t.slots[i]&^countMask != fp {
		i = (i + 1) & mask
	}
	t.slots[i] = fp | uint64(count)
}

// newTable sizes a table for n pieces at most about 70% full: linear probing
// stays short and misses (the common case for unusual text) end within a cache
// line or two.
func newTable(seed maphash.Seed, n int) *wordTable {
	size := 1 << bits.Len(uint(n*10/7))
	return &wordTable{seed: seed, slots: make([]uint64, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
}

// parseWords builds the table from the words file format described at wordsGz.
func parseWords(seed maphash.Seed, text []byte) (*wordTable, error) {
	t := newTable(seed, bytes.Count(text, []byte{'\n'}))
	for line := 1; len(text) > 0; line++ {
		b, rest, _ := bytes.Cut(text, []byte{'\n'})
		text = rest
		if len(b) < 2 || b[0] < '1' || b[0] > '0'+maxCount {
			return nil, fmt.Errorf("words line %d: malformed %q", line, b)
		}
		t.insert(b[1:], int(b[0]-'0'))
	}
	return t, nil
}

func loadWords(seed maphash.Seed, gz []byte) (*wordTable, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("words: %w", err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("words: %w", err)
	}
	return parseWords(seed, text)
}

// defaultWords is built on first use (tens of milliseconds) and never changes
// afterwards. A corrupt embedded file (which the tests rule out) degrades to an
// empty table: every word is then charged by its bytes, looser but still an
// upper bound.
var defaultWords = sync.OnceValue(func() *wordTable {
	seed := maphash.MakeSeed()
	t, err := loadWords(seed, wordsGz)
	if err != nil {
		return newTable(seed, 0)
	}
	return t
})
