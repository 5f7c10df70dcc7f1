package telemetry

import (
	"io"
	"sync"
	"time"
)

// LogWriter batches log lines in memory and writes them to the underlying
// writer every interval, when the batch reaches its size, and on Close. One
// write(2) per request line cost about a tenth of the sidecar's CPU per
// request under load; batching makes it one per interval. slog handlers call
// Write once per record, so lines are never split between batches. A crash
// (not a clean shutdown) loses at most one interval of lines.
type LogWriter struct {
	out      io.Writer
	limit    int
	mu       sync.Mutex
	buf      []byte
	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
	once     sync.Once
}

// NewLogWriter starts a writer flushing to out every interval or whenever
// limit bytes are pending. Close flushes and stops it.
func NewLogWriter(out io.Writer, interval time.Duration, limit int) *LogWriter {
	w := &LogWriter{out: out, limit: limit, buf: make([]byte, 0, limit),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.loop(interval)
	return w
}

// Write queues p (one log record). It writes through when p alone exceeds the
// batch size.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > w.limit {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > w.limit {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes pending lines now.
func (w *LogWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *LogWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *LogWriter) loop(interval time.Duration) {
	defer close(w.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// A failing log destination cannot be reported through the log;
			// the next flush tries again.
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Close stops the background flush and writes what is pending. Lines written
// after Close go straight through.
func (w *LogWriter) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.stopped
		w.mu.Lock()
		w.closeErr = w.flushLocked()
		w.limit = 0 // write through from now on
		w.mu.Unlock()
	})
	return w.closeErr
}
