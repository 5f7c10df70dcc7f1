package tokens

import (
	"bytes"
	"compress/gzip"
	"flag"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "regenerate words.txt.gz from the real vocabularies")

// Apostrophe suffixes are added to the most frequent words (by vocabulary
// rank): the possessive to many, the others to few, "n't" to every word ending
// in n. The most frequent words also get their form without a leading space.
const (
	possessiveRanks = 50000
	suffixRanks     = 3000
)

// generateWords builds the words file content: every vocabulary entry of either
// encoding shaped like a word piece (optional lead byte, letters), and frequent
// ASCII words with an apostrophe suffix, each with its largest count under the
// two encodings, when that count beats the piece's byte length.
func generateWords(tb testing.TB) string {
	tb.Helper()
	vocabs := vocabularies(tb)
	ranks := map[string]int{}
	for _, vocab := range vocabs {
		for piece, rank := range vocab {
			if !wordShaped(piece) {
				continue
			}
			if r, ok := ranks[piece]; !ok || rank < r {
				ranks[piece] = rank
			}
		}
	}
	pieces := map[string]bool{}
	for piece, rank := range ranks {
		pieces[piece] = true
		lead, word := splitLead(piece)
		if (lead != 0 && lead != ' ') || !isASCII(word) {
			continue
		}
		if rank < possessiveRanks {
			pieces[piece+"'s"] = true
			if lead == ' ' {
				// The same word at a line start or after a quote.
				pieces[word] = true
			}
		}
		if rank < suffixRanks || strings.HasSuffix(word, "n") {
			pieces[piece+"'t"] = true
		}
		if rank < suffixRanks {
			for _, suffix := range []string{"'re", "'ve", "'m", "'ll", "'d"} {
				pieces[piece+suffix] = true
			}
		}
	}
	var lines []string
	for piece := range pieces {
		n := trueMax(tb, piece)
		if n < len(piece) && n <= maxCount {
			lines = append(lines, string(rune('0'+n))+piece)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// wordShaped reports whether piece is a lead byte (space, tab or ASCII
// punctuation) or nothing, then a letter and letters or marks only: the shape
// wordAt looks up.
func wordShaped(piece string) bool {
	lead, word := splitLead(piece)
	if word == "" || (lead == '\'' && maybeContraction(word)) {
		return false
	}
	if lead != 0 && lead != ' ' && lead != '\t' && byteClass[lead] != clsPunct {
		return false
	}
	return utf8.ValidString(word) && letterAt(word, 0) && lettersEnd(word, 0) == len(word)
}

func splitLead(piece string) (byte, string) {
	if piece != "" && piece[0] < utf8.RuneSelf && byteClass[piece[0]] != clsLetter {
		return piece[0], piece[1:]
	}
	return 0, piece
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func embeddedWords(tb testing.TB) string {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(wordsGz))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestWordsFile keeps the embedded table in step with the vocabularies; run with
// -update to rewrite it.
func TestWordsFile(t *testing.T) {
	want := generateWords(t)
	if *update {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("words.txt.gz", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d entries, %d bytes", strings.Count(want, "\n"), buf.Len())
		return
	}
	if got := embeddedWords(t); got != want {
		t.Fatalf("words.txt.gz is stale (%d lines, want %d): run go test -run TestWordsFile -update",
			strings.Count(got, "\n"), strings.Count(want, "\n"))
	}
}

func TestWordTable(t *testing.T) {
	text := embeddedWords(t)
	tbl := defaultWords()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if got := len(tbl.slots); got*7 < len(lines)*10 {
		t.Errorf("table of %d slots for %d entries: load above 70%%", got, len(lines))
	}
	for _, line := range lines {
		if got, want := tbl.lookup(line[1:]), int(line[0]-'0'); got != want {
			t.Fatalf("lookup(%q) = %d, want %d", line[1:], got, want)
		}
	}
	for _, piece := range []string{"zzqxj", " qqqqqqqqqq", "Xylophonez", ""} {
		if got := tbl.lookup(piece); got != 0 {
			t.Errorf("lookup(%q) = %d, want 0 (absent)", piece, got)
		}
	}
}

func TestParseWords(t *testing.T) {
	cases := []struct {
		in      string
		wantErr bool
	}{
		{"1 the\n2Hello\n", false},
		{"", false},
		{"1\n", true},
		{"0 the\n", true},
		{"8 the\n", true},
		{"x the\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if _, err := parseWords(maphash.MakeSeed(), []byte(tc.in)); (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestCorruptWordsFallBackToBytes(t *testing.T) {
	if _, err := loadWords(maphash.MakeSeed(), []byte("not gzip")); err == nil {
		t.Fatal("loadWords accepted a corrupt file")
	}
	empty := newTable(maphash.MakeSeed(), 0)
	if got, want := estimate(empty, " the cat"), 8; got != want {
		t.Errorf("estimate with an empty table = %d, want the byte count %d", got, want)
	}
}
