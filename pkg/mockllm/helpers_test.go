package mockllm

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// newTestServer starts the mock on an httptest server with recorded sleeps.
func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server, *sleepLog) {
	t.Helper()
	sl := &sleepLog{}
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts, sl
}

// sdkClient is the official OpenAI SDK pointed at ts, without retries so that
// injected errors surface as they are.
func sdkClient(ts *httptest.Server) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(ts.URL+"/v1/"),
		option.WithAPIKey("sk-test"),
		option.WithHTTPClient(ts.Client()),
		option.WithMaxRetries(0),
	)
}

// sleepLog records the delays the server asks for, without waiting.
type sleepLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delays = append(l.delays, d)
	return ctx.Err()
}

func (l *sleepLog) get() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.delays...)
}

func userParams(model, prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}
}
