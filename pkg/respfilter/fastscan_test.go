package respfilter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// loadChunk is a content chunk as pkg/loadgen (and OpenAI) sends it, with
// include_usage: "usage":null until the usage chunk.
func loadChunk(delta, finish string) string {
	return `{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,` +
		`"model":"` + providerModel + `","service_tier":"default","system_fingerprint":"fp_06737a9306",` +
		`"choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}`
}

// loadUsageChunk is the include_usage chunk pkg/loadgen sends last.
const loadUsageChunk = `{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,` +
	`"model":"` + providerModel + `","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],` +
	`"usage":{"prompt_tokens":25,"completion_tokens":16,"total_tokens":41,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},` +
	`"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0}}}`

// scanAccepted are documents the fast path must read itself: the shapes
// providers send, and harmless variations of them.
func scanAccepted() []string {
	return []string{
		loadChunk(`{"role":"assistant","content":"The"}`, "null"),
		loadChunk(`{"content":" gateway"}`, "null"),
		loadChunk(`{"content":" counts"}`, `"stop"`),
		loadUsageChunk,
		chunkHead + `,"choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}`,
		chunkHead + `,"choices":[{"index":0,"delta":{"content":"a\nb \"q\" \u00e9 \ud83c\udf89"},"finish_reason":null}]}`,
		chunkHead + `,"choices":[{"index":0,"delta":{"content":"héllo 🎉"},"finish_reason":null}]}`,
		completion("Hello there", true),
		completion("multi\nline\ttext", false),
		" {\n  \"MODEL\" : \"m\" ,\r\n\t\"Choices\" : [ { \"Index\" : 1 , \"Delta\" : { \"Content\" : \"x\" } } ] } \n",
		`{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}},null,3]}`,
		`{"model":"a","model":"b","choices":[{"delta":{"content":"bad","content":"x"},"delta":{"content":null}}],"choices":[]}`,
		`{"choices":[{"index":2e0,"delta":{}}],"usage":{"total_tokens":1.5e3}}`,
		`{"choices":{"index":0},"id":null,"created":-0.5e-3,"usage":[1,{"a":[true,false,null]}]}`,
		`{"choices":[{"index":0,"logprobs":{"content":[{"token":"x","bytes":[120],"top_logprobs":[]}]},"delta":{"content":""}}]}`,
		`{"x":{"\u0063ontent":"keys the filter does not read","é":1},"choices":[{"logprobs":{"\u00e9":[]}}]}`,
		`{}`,
	}
}

// scanRejected are documents the fast path must leave to the general path.
func scanRejected() []string {
	return []string{
		`{"\u0063hoices":[{"delta":{"content":"escaped key"}}]}`,
		`{"choices":[{"delta":{"\u0063ontent":"escaped key"}}]}`,
		`{"choiceſ":[]}`, // folds to "choices"
		`{"x\u0063":1,"choices":[]}`,
		`{"choices":[{"index":0,"delta":{"conten\u0074":"bad"}}]}`,
		strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
		`{"a":1,}`, `{"a":01}`, `{"a":"` + "\x01" + `"}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1} x`, `[1]`, `"s"`, ``,
	}
}

func TestScanAcceptsCommonShapes(t *testing.T) {
	for _, doc := range scanAccepted() {
		for _, body := range []string{"delta", "message"} {
			var v docView
			if !v.scan(doc, body, nil) {
				t.Errorf("scan(%s) fell back to the general path", doc)
				continue
			}
			checkSameView(t, doc, body, &v)
		}
	}
}

func TestScanRejectsUncertain(t *testing.T) {
	for _, doc := range scanRejected() {
		var v docView
		if v.scan(doc, "delta", nil) {
			t.Errorf("scan(%q) accepted", doc)
		}
	}
}

// checkSameView fails unless fast, read by scan, is what parse reads of doc.
func checkSameView(t *testing.T, doc, body string, fast *docView) {
	t.Helper()
	if !gjson.Valid(doc) || !gjson.Parse(doc).IsObject() {
		t.Fatalf("scan accepted %q, which is not a JSON object", doc)
	}
	var gen docView
	gen.parse(doc, body)
	if diff := diffView(fast, &gen); diff != "" {
		t.Fatalf("scan and parse disagree on %q (body %s): %s", doc, body, diff)
	}
}

func diffView(a, b *docView) string {
	if d := diffResults("models", a.models, b.models); d != "" {
		return d
	}
	if d := diffResults("shadowed", a.shadowed, b.shadowed); d != "" {
		return d
	}
	fields := []string{"id", "created", "choices", "usage"}
	for i, r := range [][2]gjson.Result{{a.id, b.id}, {a.created, b.created}, {a.choices, b.choices}, {a.usage, b.usage}} {
		if d := diffResult(fields[i], r[0], r[1]); d != "" {
			return d
		}
	}
	if a.elems != b.elems || len(a.list) != len(b.list) {
		return fmt.Sprintf("choices: %d elements, %d objects vs %d, %d", a.elems, len(a.list), b.elems, len(b.list))
	}
	for i := range a.list {
		ca, cb := &a.list[i], &b.list[i]
		if ca.index != cb.index {
			return fmt.Sprintf("choice %d: index %d vs %d", i, ca.index, cb.index)
		}
		for _, d := range []string{
			diffResults("contents", ca.contents, cb.contents),
			diffResults("shadowed contents", ca.shadowed, cb.shadowed),
			diffResults("finish", ca.finish, cb.finish),
		} {
			if d != "" {
				return fmt.Sprintf("choice %d: %s", i, d)
			}
		}
	}
	return ""
}

func diffResults(name string, a, b []gjson.Result) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%s: %d values vs %d", name, len(a), len(b))
	}
	for i := range a {
		if d := diffResult(fmt.Sprintf("%s[%d]", name, i), a[i], b[i]); d != "" {
			return d
		}
	}
	return ""
}

func diffResult(name string, a, b gjson.Result) string {
	if a.Type != b.Type || a.Raw != b.Raw || a.Str != b.Str || a.Num != b.Num || a.Index != b.Index {
		return fmt.Sprintf("%s: %#v vs %#v", name, a, b)
	}
	return ""
}

// FuzzFastPath is the differential test of the fast path: on any input, the
// fast scan either declines or reads the same view as the general gjson path,
// and the filters give byte-identical results with and without it. The
// stream gets doc then next, so that next may resume after doc's head.
func FuzzFastPath(f *testing.F) {
	for _, doc := range append(scanAccepted(), scanRejected()...) {
		f.Add([]byte(doc), []byte(doc), uint8(2))
		f.Add([]byte(doc), []byte(loadUsageChunk), uint8(7))
	}
	f.Add([]byte(loadChunk(`{"content":"an evil plan, bad"}`, "null")), []byte(loadChunk(`{"content":" evil plan"}`, `"stop"`)), uint8(3))
	f.Add([]byte(loadChunk(`{"content":"0123456789abcdefghijklmnop"}`, `"stop"`)), []byte(loadUsageChunk), uint8(6))
	f.Add([]byte(`{"id":"a","choices":[{"delta":{"content":"bad"}}]}`), []byte(`{"id":"a","choices":[{"delta":{"content":"bad"}}],"choices":1}`), uint8(2))
	for _, u := range usageSeeds() {
		f.Add([]byte(u), []byte(`{"choices":[],"usage":`+u+`}`), uint8(1))
	}
	f.Fuzz(func(t *testing.T, doc, next []byte, mode uint8) {
		for _, body := range []string{"delta", "message"} {
			var v docView
			if v.scan(string(doc), body, nil) {
				checkSameView(t, string(doc), body, &v)
			}
		}
		opts := fuzzOptions(t, mode)
		checkSameFilterJSON(t, doc, opts)
		checkSameStream(t, opts, event(doc), event(next), []byte("data: [DONE]\n\n"))
	})
}

// usageSeeds are usage objects, common and odd.
func usageSeeds() []string {
	return []string{
		usageJSON,
		`{"prompt_tokens":25,"completion_tokens":16,"total_tokens":41,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},` +
			`"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0}}`,
		`{"prompt_tokens":1,"prompt_tokens":2,"total_tokens":"7","completion_tokens":1.5e1}`,
		`{"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":{"cached_tokens":2}}`,
		`{"prompt_tokens_details":[{"cached_tokens":1}],"completion_tokens_details":"x"}`,
		`{"prompt_tokens_details":{"cached_tokens":true,"cached_tokens":3},"Total_tokens":4,"total_tokens":-2}`,
		`{"prompt\u005ftokens":5}`, `{"completion_tokens_details":{"reasoning\u005ftokens":5}}`, `{}`,
	}
}

// TestStreamHeadResume checks the resumption after a cached head against
// the general path, with the second chunk of real streams mutated at every
// byte.
func TestStreamHeadResume(t *testing.T) {
	first := []byte(loadChunk(`{"role":"assistant","content":"The"}`, "null"))
	second := []byte(loadChunk(`{"content":" bad"}`, "null"))
	opts := fuzzOptions(t, 2)
	for k := range second {
		for _, c := range []byte(`"\ :,}{[]0xZé`) {
			mutated := bytes.Clone(second)
			mutated[k] = c
			checkSameStream(t, opts, event(first), event(mutated), event(second), event(first))
		}
	}
}

func event(doc []byte) []byte {
	return append(append([]byte("data: "), doc...), "\n\n"...)
}

func checkSameFilterJSON(t *testing.T, body []byte, opts Options) {
	fast, errFast := filterJSON(body, opts, &docView{})
	gen, errGen := filterJSON(body, opts, &docView{noScan: true})
	if (errFast == nil) != (errGen == nil) || errFast != nil && !errors.Is(errFast, ErrInvalidJSON) {
		t.Fatalf("FilterJSON(%q): error %v with the fast path, %v without", body, errFast, errGen)
	}
	if !bytes.Equal(fast.Body, gen.Body) || fast.Changed != gen.Changed || fast.Usage != gen.Usage ||
		fast.ProviderUsage != gen.ProviderUsage || fast.Outcome != gen.Outcome {
		t.Fatalf("FilterJSON(%q) differs:\nfast    %+v %s\ngeneral %+v %s", body, fast, fast.Body, gen, gen.Body)
	}
}

// checkSameStream runs the chunks through a Stream with and without the fast
// path, one Process call each so that every call reuses the buffers of the
// one before, and compares everything.
func checkSameStream(t *testing.T, opts Options, chunks ...[]byte) {
	t.Helper()
	run := func(s *Stream) (out []byte, err error) {
		for i, c := range chunks {
			var o []byte
			if o, err = s.Process(c, i == len(chunks)-1); err != nil {
				return out, err
			}
			out = append(out, o...)
		}
		return out, nil
	}
	fast := NewStream(opts)
	gen := NewStream(opts)
	gen.view.noScan = true
	outFast, errFast := run(fast)
	outGen, errGen := run(gen)
	if fmt.Sprint(errFast) != fmt.Sprint(errGen) || !bytes.Equal(outFast, outGen) {
		t.Fatalf("stream of %q differs:\nfast    %q %v\ngeneral %q %v", chunks, outFast, errFast, outGen, errGen)
	}
	uf, okf := fast.Usage()
	ug, okg := gen.Usage()
	if uf != ug || okf != okg || fast.CountedOutputTokens() != gen.CountedOutputTokens() || fast.Outcome() != gen.Outcome() {
		t.Fatalf("stream of %q: usage, counts or outcome differ", chunks)
	}
}
