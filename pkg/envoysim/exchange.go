package envoysim

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// exchange is one downstream request travelling through the emulated filter
// chain: connection manager, ext_proc, fault, router.
type exchange struct {
	p *Proxy
	w http.ResponseWriter
	r *http.Request
	// ctx ends when the client goes away, the exchange finishes, or ext_proc
	// fails asynchronously (which must stop upstream work).
	ctx    context.Context
	cancel context.CancelFunc

	req *headerMap
	// body is the client's request body, read ahead of the filters.
	body io.Reader

	route       *Route
	clusterName string

	proc *procSession
	mode procMode

	mu         sync.Mutex
	asyncReply *localReply

	respStarted bool
	faultActive bool
	helpers     sync.WaitGroup
	release     []func()
	log         accessRecord
}

// ServeHTTP handles one downstream request the way Envoy's listener would.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := p.newExchange(w, r)
	defer ex.finish()
	ex.run()
}

func (p *Proxy) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	ctx, cancel := context.WithCancel(r.Context())
	ex := &exchange{p: p, r: r, ctx: ctx, cancel: cancel}
	ex.w = &countingWriter{ResponseWriter: w, n: &ex.log.bytesSent}
	var src io.Reader = http.NoBody
	if r.Body != nil && r.Body != http.NoBody {
		src = newReadAhead(&countingReader{r: r.Body, n: &ex.log.bytesReceived}, p.cfg.Listener.BufferLimit, ctx.Done(), cancel)
	}
	ex.body = src
	ex.log.start = p.clock.Now()
	ex.log.protocol = r.Proto
	ex.log.remoteAddr = r.RemoteAddr
	// Envoy forwards request body chunks while the response streams; HTTP/1
	// in net/http needs opting in for that.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if p.cfg.Listener.ExtProc != nil {
		ex.proc = newProcSession(p, ctx, ex.onProcFailure)
		ex.mode = modeFromConfig(p.cfg.Listener.ExtProc.Mode)
	}
	p.stats.inc(p.httpStat("downstream_rq_total"))
	return ex
}

func (ex *exchange) run() {
	ex.prepareRequestHeaders()
	ex.selectRoute()
	body, reply := ex.decode()
	if reply == nil {
		reply = ex.takeAsyncReply()
	}
	if reply != nil {
		ex.respondLocal(reply)
		return
	}
	up, reply := ex.forward(body)
	if r := ex.takeAsyncReply(); r != nil {
		if up != nil {
			up.close()
		}
		up, reply = nil, r
	}
	if reply != nil {
		ex.respondLocal(reply)
		return
	}
	ex.encode(up)
}

// procActive reports whether ext_proc still takes part in this request.
func (ex *exchange) procActive() bool {
	return ex.proc != nil && ex.proc.active()
}

// onProcFailure runs on whichever goroutine saw ext_proc stop. Failures that
// end the request (fail closed, immediate response, client gone) cancel
// upstream work; the request goroutine then answers with the stored reply.
func (ex *exchange) onProcFailure(e *procError) {
	reply := ex.procReply(e)
	if reply == nil {
		return
	}
	ex.mu.Lock()
	if ex.asyncReply == nil {
		ex.asyncReply = reply
	}
	ex.mu.Unlock()
	ex.cancel()
}

func (ex *exchange) takeAsyncReply() *localReply {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	r := ex.asyncReply
	ex.asyncReply = nil
	return r
}

// onRelease registers cleanup to run when the exchange ends.
func (ex *exchange) onRelease(f func()) {
	ex.release = append(ex.release, f)
}

// finish unblocks and waits for helper goroutines, closes the ext_proc
// stream, and writes the access log. It runs while a reset panic unwinds too.
func (ex *exchange) finish() {
	if ex.proc != nil {
		// Half-close then reset, before the request context goes, like
		// Envoy's filter destruction.
		ex.proc.close()
		ex.log.metadata = ex.proc.dynamicMetadata()
	}
	ex.cancel()
	for i := len(ex.release) - 1; i >= 0; i-- {
		ex.release[i]()
	}
	ex.helpers.Wait()
	if ex.faultActive {
		ex.p.stats.gaugeAdd(ex.p.httpStat("fault.active_faults"), -1)
	}
	ex.log.req = ex.req
	ex.log.duration = ex.p.clock.Now().Sub(ex.log.start)
	if ex.log.status > 0 {
		ex.p.stats.inc(ex.p.httpStat("downstream_rq_" + statusClass(ex.log.status)))
	}
	ex.p.accessLog(&ex.log)
}

// countingReader counts request body bytes for BYTES_RECEIVED.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// countingWriter counts response body bytes for BYTES_SENT.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (ex *exchange) flush() {
	_ = http.NewResponseController(ex.w).Flush()
}

func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}
