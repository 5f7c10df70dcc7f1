package tokens

import (
	"slices"
	"sync"
	"testing"

	tiktoken "github.com/pkoukk/tiktoken-go"
	loader "github.com/pkoukk/tiktoken-go-loader"
)

// encodingNames are the real tokenizers the bound must hold for.
var encodingNames = []string{"o200k_base", "cl100k_base"}

// realEncodings loads the vocabularies from the offline loader once per test
// binary (about a second each).
var realEncodings = sync.OnceValues(func() ([]*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(loader.NewOfflineLoader())
	out := make([]*tiktoken.Tiktoken, 0, len(encodingNames))
	for _, name := range encodingNames {
		enc, err := tiktoken.GetEncoding(name)
		if err != nil {
			return nil, err
		}
		out = append(out, enc)
	}
	return out, nil
})

// realCounts returns the true token count of s under each encoding, in the order
// of encodingNames. Special-token text counts as ordinary text, as it does in
// chat content.
func realCounts(tb testing.TB, s string) []int {
	tb.Helper()
	encs, err := realEncodings()
	if err != nil {
		tb.Fatalf("loading tokenizers: %v", err)
	}
	out := make([]int, len(encs))
	for i, enc := range encs {
		out[i] = len(enc.EncodeOrdinary(s))
	}
	return out
}

// vocabularies returns the raw token -> rank maps of each encoding.
func vocabularies(tb testing.TB) []map[string]int {
	tb.Helper()
	out := make([]map[string]int, 0, len(encodingNames))
	for _, name := range encodingNames {
		ranks, err := loader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
		if err != nil {
			tb.Fatalf("loading %s: %v", name, err)
		}
		out = append(out, ranks)
	}
	return out
}

// trueMax is the largest true count of s over the encodings.
func trueMax(tb testing.TB, s string) int {
	tb.Helper()
	return slices.Max(realCounts(tb, s))
}
