package tokens

import (
	"hash/maphash"
	"strings"
	"testing"
)

// kib returns the first KiB of seed repeated, cut on a byte boundary (the
// estimator does not care about a split rune at the end).
func kib(seed string) string {
	return strings.ToValidUTF8(strings.Repeat(seed, 1024/len(seed)+1)[:1024], "")
}

func BenchmarkEstimate1KiB(b *testing.B) {
	inputs := []struct{ name, text string }{
		{"english", kib(englishSeed)},
		{"code", kib(goSeed)},
		{"chinese", kib(cjkSeeds["chinese"])},
		{"soup", kib(`q8#Zx!v{p0 ~Lr\m;Tk&` + "\t" + `Yw^c1=@fE*hB(oG]`)},
	}
	EstimateText("warm up the word table")
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.text)))
			b.ReportAllocs()
			for b.Loop() {
				EstimateText(in.text)
			}
		})
	}
}

func BenchmarkBuildTable(b *testing.B) {
	for b.Loop() {
		if _, err := loadWords(maphash.MakeSeed(), wordsGz); err != nil {
			b.Fatal(err)
		}
	}
}
