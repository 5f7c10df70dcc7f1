package loadgen

// recorder accumulates one worker's measurements; workers never share one, so
// recording takes no lock, and the run merges them at the end.
type recorder struct {
	phases      [numPhases]*histogram
	request     *histogram
	requests    int64 // streams attempted
	completed   int64 // full phase sequence answered without immediate response
	chunks      int64
	streamed    int64
	slowAnswers int64
	immediate   map[int]int64
	errors      map[string]int64
}

func newRecorder() *recorder {
	r := &recorder{request: newHistogram(), immediate: map[int]int64{}, errors: map[string]int64{}}
	for i := range r.phases {
		r.phases[i] = newHistogram()
	}
	return r
}

// add counts one finished request.
func (r *recorder) add(o outcome) {
	r.requests++
	r.chunks += int64(o.chunks)
	if o.streamed {
		r.streamed++
	}
	switch {
	case o.err != "":
		r.errors[o.err]++
	case o.status != 0:
		r.immediate[o.status]++
	default:
		r.completed++
	}
}

func (r *recorder) merge(o *recorder) {
	for i := range r.phases {
		r.phases[i].merge(o.phases[i])
	}
	r.request.merge(o.request)
	r.requests += o.requests
	r.completed += o.completed
	r.chunks += o.chunks
	r.streamed += o.streamed
	r.slowAnswers += o.slowAnswers
	for k, v := range o.immediate {
		r.immediate[k] += v
	}
	for k, v := range o.errors {
		r.errors[k] += v
	}
}
