package mockllm

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// maxBodyBytes bounds what the mock reads from a request.
const maxBodyBytes = 8 << 20

// Request is a request as the mock received it.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// recorder keeps the last max requests in a ring and counts them all.
type recorder struct {
	mu    sync.Mutex
	max   int
	ring  []Request
	next  int
	count int
}

// record reads r's body and logs the request. The body is returned for the
// handler, which can no longer read it from r.
func (rc *recorder) record(r *http.Request) ([]byte, error) {
	body, err := readBody(r)
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.count++
	if len(rc.ring) < rc.max {
		rc.ring = append(rc.ring, req)
	} else {
		rc.ring[rc.next] = req
	}
	rc.next = (rc.next + 1) % rc.max
	return body, err
}

func (rc *recorder) snapshot() ([]Request, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]Request, 0, len(rc.ring))
	if len(rc.ring) == rc.max {
		out = append(out, rc.ring[rc.next:]...)
		return append(out, rc.ring[:rc.next]...), rc.count
	}
	return append(out, rc.ring...), rc.count
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ring, rc.next, rc.count = nil, 0, 0
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return body, fmt.Errorf("reading request body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return body[:maxBodyBytes], errors.New("request body above 8 MiB")
	}
	return body, nil
}
