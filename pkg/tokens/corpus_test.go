package tokens

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// The corpus is generated in the test from hand-written seeds, recombined with a
// seeded random source so every run sees the same samples.

const englishSeed = `The quick brown fox jumps over the lazy dog. Meanwhile, the committee
reviewed the quarterly budget and concluded that infrastructure spending had risen by 12.5%
since last year, mostly because of the new data centre in Frankfurt.
"Don't worry," she said, "we'll finish the report before Monday's deadline." He wasn't so sure;
the analysts hadn't received the final numbers, and the CEO's assistant kept postponing the call.
In 1969, Neil Armstrong became the first person to walk on the Moon. Scientists still debate
whether the Apollo programme's budget (roughly $25.4 billion) was well spent; most agree it was.
Photosynthesis converts light energy into chemical energy: carbon dioxide and water become
glucose and oxygen. Chlorophyll absorbs mostly blue and red wavelengths, reflecting green.
Please summarize the following customer complaint in three bullet points and suggest a polite reply.
I ordered a pair of running shoes (size 42) on March 3rd, but the package arrived damaged and the
left shoe was a size 41! I've emailed support twice without an answer. This is unacceptable.
The mitochondria is often called the powerhouse of the cell, although that description is a
simplification; mitochondria also regulate apoptosis, calcium signalling and heat production.
Write a haiku about autumn leaves falling on a quiet river at dusk.
Translate "Where is the nearest train station?" into French, Spanish and German.
Explain the difference between TCP and UDP to a ten-year-old, using an analogy with letters and phone calls.`

const goSeed = `package main

import (
	"maps"
	"slices"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Server answers health checks and proxies everything else.
type Server struct {
	client  *http.Client
	timeout time.Duration
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if r.URL.Path == "/healthz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	resp, err := s.client.Do(r.Clone(ctx))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			http.Error(w, "upstream timeout", http.StatusGatewayTimeout)
			return
		}
		http.Error(w, fmt.Sprintf("upstream: %v", err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
}
`

const pythonSeed = `import json
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Invoice:
    number: str
    amount_cents: int
    currency: str = "EUR"
    lines: list[dict] = field(default_factory=list)

    def total(self) -> float:
        """Return the invoice total in major units."""
        return sum(line["qty"] * line["unit_price"] for line in self.lines) / 100.0


def load(path: str) -> Optional[Invoice]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {path!r}: {exc}")
        return None
    return Invoice(**raw)

if __name__ == "__main__":
    inv = load("invoice_2024-05.json")
    if inv is not None and inv.total() > 1_000:
        print("large invoice:", inv.number)
`

var cjkSeeds = map[string]string{
	"chinese":  "人工智能正在改变我们的生活方式。今天的天气很好，我们去公园散步吧！请把这份报告翻译成英文，并在明天之前发给我。北京是中国的首都，拥有三千多年的历史。机器学习模型需要大量的数据进行训练。",
	"japanese": "今日はとても良い天気ですね。東京駅までの行き方を教えてください。このプログラムはPythonで書かれています。私たちは明日の会議の準備をしなければなりません。カタカナとひらがなと漢字を混ぜて書きます。",
	"korean":   "안녕하세요, 만나서 반갑습니다. 오늘 회의는 오후 세 시에 시작합니다. 서울은 대한민국의 수도입니다. 인공지능 기술이 빠르게 발전하고 있습니다. 이 문서를 영어로 번역해 주세요.",
}

var scriptSeeds = map[string]string{
	"european": "Le café était fermé à cause de la grève générale. Où se trouve la gare la plus proche ? " +
		"Die Größe des Gebäudes überrascht jeden Besucher; außerdem ist der Eintritt für Kinder frei. " +
		"La información de la compañía está disponible en español y en inglés desde el año pasado. " +
		"A inteligência artificial está mudando a forma como trabalhamos, não há dúvida.",
	"arabic":   "مرحبا بكم في موقعنا. الذكاء الاصطناعي يغير العالم بسرعة كبيرة. يرجى ترجمة هذا النص إلى اللغة الإنجليزية. القاهرة هي عاصمة مصر وأكبر مدنها.",
	"hindi":    "नमस्ते, आप कैसे हैं? भारत एक विशाल और विविधताओं से भरा देश है। कृपया इस पाठ का अंग्रेज़ी में अनुवाद करें। कृत्रिम बुद्धिमत्ता तेज़ी से विकसित हो रही है।",
	"cyrillic": "Привет, как дела? Москва является столицей России. Пожалуйста, переведите этот текст на английский язык. Искусственный интеллект быстро развивается. Київ — столиця України.",
}

var emojiSeeds = []string{
	"😀", "😂", "🥲", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸", "❤️", "🔥", "✨", "🚀", "1️⃣", "#️⃣",
	"🧑🏿‍🤝‍🧑🏻", "🐈‍⬛", "🙇‍♀️", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "☕", "⚽", "🎉",
}

var englishWords = strings.Fields(`the of and to in is was for that it with as on by at be this have from
or one had not but what all were when we there can an your which their said if do will each about how up
out them then she many some so these would other into has more her two like him see time could no make than
first been its who now people my made over did down only way find use may water long little very after words
called just where most know get through back much before go good new write our used me man too any day same
right look think also around another came come work three word must because does part even place well such
kubernetes authentication idempotent asynchronous throughput latency reconciliation photosynthesis
mitochondria cryptocurrency infrastructure microservices observability quantization hallucination
Alice Bob London Paris Berlin Tokyo Microsoft Google OpenAI Envoy Redis Prometheus Kafka NASA HTTP JSON API`)

// corpus returns the samples of every category, by name.
func corpus(r *rand.Rand) map[string][]string {
	c := map[string][]string{
		"prose":        slicesOf(r, englishSeed, 60),
		"english":      englishSamples(r),
		"code":         codeSamples(r),
		"json":         jsonSamples(r),
		"emoji":        emojiSamples(r),
		"numbers":      numberSamples(r),
		"ascii-soup":   soupSamples(r, 40, false),
		"bytes":        soupSamples(r, 40, true),
		"whitespace":   whitespaceSamples(r),
		"long-words":   longWordSamples(r),
		"mixed-case":   mixedCaseSamples(r),
		"scripts-soup": scriptSoupSamples(r),
	}
	for _, seeds := range []map[string]string{cjkSeeds, scriptSeeds} {
		for _, name := range slices.Sorted(maps.Keys(seeds)) {
			c[name] = scriptSamples(r, seeds[name])
		}
	}
	return c
}

// slices cuts seed into pieces of random length, including mid-word and
// mid-character cuts at the ends, plus the whole seed.
func slicesOf(r *rand.Rand, seed string, n int) []string {
	out := []string{seed}
	for range n {
		a := r.IntN(len(seed))
		b := a + 1 + r.IntN(len(seed)-a)
		out = append(out, strings.ToValidUTF8(seed[a:b], ""))
	}
	return out
}

// englishSamples makes sentences of words drawn from englishWords, heavy in
// technical terms and apostrophe suffixes (some ungrammatical).
func englishSamples(r *rand.Rand) []string {
	var out []string
	punct := []string{"", "", "", ",", ".", "!", "?", ";", ":", " -", "'s", "n't", ")", "\""}
	for range 60 {
		var b strings.Builder
		for w := range 5 + r.IntN(60) {
			if w > 0 {
				b.WriteByte(' ')
			}
			word := englishWords[r.IntN(len(englishWords))]
			if r.IntN(8) == 0 {
				word = strings.ToUpper(word[:1]) + word[1:]
			}
			b.WriteString(word + punct[r.IntN(len(punct))])
			if r.IntN(25) == 0 {
				b.WriteString("\n\n")
			}
		}
		out = append(out, b.String())
	}
	return out
}

func codeSamples(r *rand.Rand) []string {
	out := append(slicesOf(r, goSeed, 40), slicesOf(r, pythonSeed, 40)...)
	// Re-indent with tabs, spaces and CRLF line ends.
	for _, seed := range []string{goSeed, pythonSeed} {
		out = append(out, strings.ReplaceAll(seed, "\t", "    "), strings.ReplaceAll(seed, "\n", "\r\n"),
			strings.ReplaceAll(seed, "    ", "\t"))
	}
	return out
}

func jsonSamples(r *rand.Rand) []string {
	var out []string
	for range 50 {
		v := randomJSON(r, 3)
		b, _ := json.Marshal(v)
		out = append(out, string(b))
		b, _ = json.MarshalIndent(v, "", "  ")
		out = append(out, string(b))
	}
	return out
}

func randomJSON(r *rand.Rand, depth int) any {
	switch k := r.IntN(6); {
	case depth == 0 || k == 0:
		return englishWords[r.IntN(len(englishWords))]
	case k == 1:
		return r.Float64() * 1e6
	case k == 2:
		return r.IntN(100000)
	case k == 3:
		return r.IntN(2) == 0
	case k == 4:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = randomJSON(r, depth-1)
		}
		return a
	default:
		m := map[string]any{}
		for range 1 + r.IntN(5) {
			m[englishWords[r.IntN(len(englishWords))]+"_id"] = randomJSON(r, depth-1)
		}
		return m
	}
}

func scriptSamples(r *rand.Rand, seed string) []string {
	return slicesOf(r, seed, 60)
}

// scriptSoupSamples draws runes at random from every non-Latin seed: words no
// vocabulary has seen, in scripts whose letters take several bytes.
func scriptSoupSamples(r *rand.Rand) []string {
	var runes []rune
	for _, seeds := range []map[string]string{cjkSeeds, scriptSeeds} {
		for _, name := range slices.Sorted(maps.Keys(seeds)) {
			runes = append(runes, []rune(seeds[name])...)
		}
	}
	var out []string
	for range 60 {
		var b strings.Builder
		for range 10 + r.IntN(100) {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		out = append(out, b.String())
	}
	return out
}

func emojiSamples(r *rand.Rand) []string {
	var out []string
	for range 60 {
		var b strings.Builder
		for range 1 + r.IntN(30) {
			b.WriteString(emojiSeeds[r.IntN(len(emojiSeeds))])
			if r.IntN(3) == 0 {
				b.WriteString([]string{" ", "", " great ", "!", "\n"}[r.IntN(5)])
			}
		}
		out = append(out, b.String())
	}
	return out
}

func numberSamples(r *rand.Rand) []string {
	var out []string
	for range 80 {
		var b strings.Builder
		for range 1 + r.IntN(20) {
			switch r.IntN(6) {
			case 0:
				fmt.Fprintf(&b, "%d ", r.Int64())
			case 1:
				fmt.Fprintf(&b, "%.4f, ", r.NormFloat64()*1e4)
			case 2:
				fmt.Fprintf(&b, "+1 (%03d) %03d-%04d\n", r.IntN(1000), r.IntN(1000), r.IntN(10000))
			case 3:
				fmt.Fprintf(&b, "2024-%02d-%02dT%02d:%02d:%02dZ ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
			case 4:
				b.WriteString(strings.Repeat("9", 1+r.IntN(40)))
			default:
				fmt.Fprintf(&b, "v%d.%d.%d x%d ", r.IntN(10), r.IntN(30), r.IntN(100), r.IntN(64))
			}
		}
		out = append(out, b.String())
	}
	return out
}

func soupSamples(r *rand.Rand, n int, anyByte bool) []string {
	var out []string
	for range n {
		b := make([]byte, 1+r.IntN(300))
		for i := range b {
			if anyByte {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = byte(0x20 + r.IntN(0x5f))
			}
		}
		out = append(out, string(b))
	}
	return out
}

func whitespaceSamples(r *rand.Rand) []string {
	parts := []string{" ", "  ", "\t", "\n", "\r\n", "\n\n\n", "    ", "\v", "\f", "\u00a0", "\u3000",
		"word", "(", "}", ".", "x", "'s", "1", "é"}
	var out []string
	for range 80 {
		var b strings.Builder
		for range 1 + r.IntN(40) {
			p := parts[r.IntN(len(parts))]
			b.WriteString(strings.Repeat(p, 1+r.IntN(4)))
		}
		out = append(out, b.String())
	}
	return out
}

func longWordSamples(r *rand.Rand) []string {
	out := []string{
		strings.Repeat("a", 1000), strings.Repeat("ab", 700), strings.Repeat("Z", 999),
		"pneumonoultramicroscopicsilicovolcanoconiosis", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
		strings.Repeat("hello", 300), strings.Repeat("漢字", 300), strings.Repeat("😀", 200),
		strings.Repeat("-", 500), strings.Repeat("=+", 300), strings.Repeat("1234567890", 50),
	}
	for range 20 {
		b := make([]byte, 50+r.IntN(1500))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		out = append(out, string(b), " "+string(b))
	}
	return out
}

func mixedCaseSamples(r *rand.Rand) []string {
	var out []string
	for range 60 {
		var b strings.Builder
		for range 1 + r.IntN(10) {
			w := englishWords[r.IntN(len(englishWords))]
			switch r.IntN(4) {
			case 0:
				w = strings.ToUpper(w)
			case 1:
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if r.IntN(3) == 0 {
				b.WriteString([]string{".", "_", " ", "(", "::"}[r.IntN(5)])
			}
		}
		out = append(out, b.String())
	}
	return out
}
