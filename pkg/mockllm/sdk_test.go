package mockllm

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

func TestSDKCompletion(t *testing.T) {
	cases := []struct {
		name       string
		config     Config
		edit       func(*openai.ChatCompletionNewParams)
		wantWords  int
		wantN      int
		wantFinish string
	}{
		{"default length", Config{}, nil, DefaultWords, 1, "stop"},
		{"words knob", Config{Words: 7}, nil, 7, 1, "stop"},
		{"max_tokens caps", Config{}, func(p *openai.ChatCompletionNewParams) { p.MaxTokens = openai.Int(5) }, 5, 1, "length"},
		{"max_tokens above reply", Config{Words: 3}, func(p *openai.ChatCompletionNewParams) { p.MaxTokens = openai.Int(5) }, 3, 1, "stop"},
		{"max_completion_tokens wins", Config{}, func(p *openai.ChatCompletionNewParams) {
			p.MaxTokens = openai.Int(9)
			p.MaxCompletionTokens = openai.Int(2)
		}, 2, 1, "length"},
		{"n choices", Config{Words: 4}, func(p *openai.ChatCompletionNewParams) { p.N = openai.Int(3) }, 4, 3, "stop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{Config: tc.config})
			params := userParams("gpt-4o-mini", "Tell me about the weather in Paris")
			if tc.edit != nil {
				tc.edit(&params)
			}
			client := sdkClient(ts)
			resp, err := client.Chat.Completions.New(t.Context(), params)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Object != "chat.completion" || resp.Model != "gpt-4o-mini" || !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Created == 0 {
				t.Errorf("envelope: object %q model %q id %q created %d", resp.Object, resp.Model, resp.ID, resp.Created)
			}
			if len(resp.Choices) != tc.wantN {
				t.Fatalf("%d choices, want %d", len(resp.Choices), tc.wantN)
			}
			for i, c := range resp.Choices {
				if int(c.Index) != i || c.Message.Role != "assistant" || c.FinishReason != tc.wantFinish {
					t.Errorf("choice %d: index %d role %q finish %q", i, c.Index, c.Message.Role, c.FinishReason)
				}
				if got := len(strings.Fields(c.Message.Content)); got != tc.wantWords {
					t.Errorf("choice %d: %d words (%q), want %d", i, got, c.Message.Content, tc.wantWords)
				}
			}
			want := openai.CompletionUsage{PromptTokens: 7, CompletionTokens: int64(tc.wantWords * tc.wantN)}
			want.TotalTokens = want.PromptTokens + want.CompletionTokens
			if u := resp.Usage; u.PromptTokens != want.PromptTokens || u.CompletionTokens != want.CompletionTokens || u.TotalTokens != want.TotalTokens {
				t.Errorf("usage %d/%d/%d, want %d/%d/%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens,
					want.PromptTokens, want.CompletionTokens, want.TotalTokens)
			}
		})
	}
}

func TestSDKStreaming(t *testing.T) {
	cases := []struct {
		name         string
		config       Config
		includeUsage bool
		n            int64
		maxTokens    int64
	}{
		{"include_usage", Config{Words: 6}, true, 1, 0},
		{"no usage requested", Config{Words: 6}, false, 1, 0},
		{"usage omitted by knob", Config{Words: 6, OmitUsage: true}, true, 1, 0},
		{"chunks of three, two choices, capped", Config{Words: 10, TokensPerChunk: 3}, true, 2, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{Config: tc.config})
			client := sdkClient(ts)
			params := userParams("mock-small", "Stream me something")
			params.N = openai.Int(tc.n)
			if tc.maxTokens > 0 {
				params.MaxTokens = openai.Int(tc.maxTokens)
			}
			plain, err := client.Chat.Completions.New(t.Context(), params)
			if err != nil {
				t.Fatal(err)
			}
			if tc.includeUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			stream := client.Chat.Completions.NewStreaming(t.Context(), params)
			var acc openai.ChatCompletionAccumulator
			var chunks []openai.ChatCompletionChunk
			for stream.Next() {
				chunks = append(chunks, stream.Current())
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			for i := range plain.Choices {
				if got, want := acc.Choices[i].Message.Content, plain.Choices[i].Message.Content; got != want {
					t.Errorf("choice %d streamed %q, JSON mode gave %q", i, got, want)
				}
				if got, want := acc.Choices[i].FinishReason, plain.Choices[i].FinishReason; got != want {
					t.Errorf("choice %d finish %q, want %q", i, got, want)
				}
			}
			last := chunks[len(chunks)-1]
			wantUsage := tc.includeUsage && !tc.config.OmitUsage
			switch {
			case wantUsage && (len(last.Choices) != 0 || last.Usage.TotalTokens != plain.Usage.TotalTokens):
				t.Errorf("last chunk: %d choices, usage %+v; want none and %+v", len(last.Choices), last.Usage, plain.Usage)
			case !wantUsage && acc.Usage.TotalTokens != 0:
				t.Errorf("usage %+v sent though not asked for", acc.Usage)
			}
			for _, c := range chunks[:len(chunks)-1] {
				if c.Usage.TotalTokens != 0 {
					t.Fatalf("intermediate chunk carries usage: %s", c.RawJSON())
				}
				if strings.Contains(c.RawJSON(), `"usage"`) != wantUsage {
					t.Fatalf("usage field presence in %s, want %v", c.RawJSON(), wantUsage)
				}
			}
		})
	}
}

func TestSDKModels(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{Models: []string{"a", "org/b"}})
	client := sdkClient(ts)
	page, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Data {
		got = append(got, m.ID+"@"+m.OwnedBy)
	}
	if strings.Join(got, ",") != "a@mock,org/b@org" {
		t.Errorf("models %v", got)
	}
}
