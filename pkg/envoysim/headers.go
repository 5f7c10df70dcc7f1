package envoysim

import (
	"net/http"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// header is one entry of an Envoy header map: lower-case name, raw value.
type header struct {
	name, value string
}

// headerMap is an ordered multi-map with Envoy's semantics: names are
// lower-case, pseudo-headers come first, duplicates are separate entries.
type headerMap struct {
	list []header
}

func (h *headerMap) get(name string) (string, bool) {
	for _, e := range h.list {
		if e.name == name {
			return e.value, true
		}
	}
	return "", false
}

func (h *headerMap) value(name string) string {
	v, _ := h.get(name)
	return v
}

func (h *headerMap) has(name string) bool {
	_, ok := h.get(name)
	return ok
}

// add appends an entry; pseudo-headers are kept ahead of regular ones.
func (h *headerMap) add(name, value string) {
	e := header{name: name, value: value}
	if !strings.HasPrefix(name, ":") {
		h.list = append(h.list, e)
		return
	}
	i := 0
	for i < len(h.list) && strings.HasPrefix(h.list[i].name, ":") {
		i++
	}
	h.list = append(h.list, header{})
	copy(h.list[i+1:], h.list[i:])
	h.list[i] = e
}

// set replaces every entry of name with one (Envoy's setCopy).
func (h *headerMap) set(name, value string) {
	for i, e := range h.list {
		if e.name == name {
			h.list[i].value = value
			h.removeFrom(name, i+1)
			return
		}
	}
	h.add(name, value)
}

func (h *headerMap) del(name string) {
	h.removeFrom(name, 0)
}

func (h *headerMap) removeFrom(name string, start int) {
	out := h.list[:start]
	for _, e := range h.list[start:] {
		if e.name != name {
			out = append(out, e)
		}
	}
	h.list = out
}

// delPrefix removes every entry whose name starts with prefix.
func (h *headerMap) delPrefix(prefix string) {
	out := h.list[:0]
	for _, e := range h.list {
		if !strings.HasPrefix(e.name, prefix) {
			out = append(out, e)
		}
	}
	h.list = out
}

func (h *headerMap) clone() *headerMap {
	return &headerMap{list: append([]header(nil), h.list...)}
}

// proto renders the map the way Envoy sends it to ext_proc: every header,
// value in raw_value.
func (h *headerMap) proto() *corev3.HeaderMap {
	out := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, 0, len(h.list))}
	for _, e := range h.list {
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: e.name, RawValue: []byte(e.value)})
	}
	return out
}

// byteSize is the sum of names and values, as Envoy's limit checks count it.
func (h *headerMap) byteSize() int {
	n := 0
	for _, e := range h.list {
		n += len(e.name) + len(e.value)
	}
	return n
}

// hopByHop are connection-scoped headers Envoy never forwards.
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}

func (h *headerMap) stripHopByHop() {
	for _, n := range hopByHop {
		h.del(n)
	}
}

// fromHTTPHeader appends a Go header map, lower-cased and sorted by name so
// that what ext_proc sees is deterministic.
func (h *headerMap) fromHTTPHeader(src http.Header) {
	names := make([]string, 0, len(src))
	for k := range src {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		for _, v := range src[k] {
			h.add(lk, v)
		}
	}
}

// toHTTPHeader copies regular (non-pseudo) entries into dst.
func (h *headerMap) toHTTPHeader(dst http.Header) {
	for _, e := range h.list {
		if strings.HasPrefix(e.name, ":") {
			continue
		}
		dst.Add(e.name, e.value)
	}
}

// validHeaderName mirrors Envoy's HeaderUtility::headerNameIsValid: an HTTP
// token, optionally preceded by ':' for pseudo-headers.
func validHeaderName(name string) bool {
	name = strings.TrimPrefix(name, ":")
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue rejects what HTTP/1 framing cannot carry (NUL, CR, LF).
func validHeaderValue(v string) bool {
	return !strings.ContainsAny(v, "\x00\r\n")
}
