package agent

import (
	"context"
	"sync"

	"github.com/staticlet/staticlet/host/admission"
)

// admitter runs admission off the loop: plugins may take up to their
// timeout per file, and the loop must keep answering status queries,
// op completions and shutdown meanwhile. One goroutine (run) owns the
// pipeline, which caches and is not safe for concurrent use. Requests are
// newest-wins per source: a newer one cancels the context of the admission
// in progress for its source and takes its place; the superseded results
// are dropped here (and would be by the core, by their generation). Files
// admitted before the cancel stay cached, so relists that keep superseding
// a long admission still make progress.
type admitter struct {
	pipeline *admission.Pipeline

	mu      sync.Mutex
	pending map[string]Admit
	// queue holds the sources with a pending request, oldest first, so
	// no source starves another.
	queue []string
	// current is the source being admitted and cancel ends that admission.
	current string
	cancel  context.CancelFunc
	wake    chan struct{}
}

func newAdmitter(p *admission.Pipeline) *admitter {
	return &admitter{pipeline: p, pending: map[string]Admit{}, wake: make(chan struct{}, 1)}
}

// submit queues a request without blocking; the loop calls it.
func (ad *admitter) submit(req Admit) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if _, queued := ad.pending[req.Source]; !queued {
		ad.queue = append(ad.queue, req.Source)
	}
	ad.pending[req.Source] = req
	if ad.cancel != nil && ad.current == req.Source {
		ad.cancel()
	}
	select {
	case ad.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest pending request, or reports false when there is
// none.
func (ad *admitter) next(ctx context.Context) (Admit, context.Context, bool) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if len(ad.queue) == 0 {
		return Admit{}, nil, false
	}
	name := ad.queue[0]
	ad.queue = ad.queue[1:]
	req := ad.pending[name]
	delete(ad.pending, name)
	actx, cancel := context.WithCancel(ctx)
	ad.current, ad.cancel = name, cancel
	return req, actx, true
}

func (ad *admitter) done() {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	ad.cancel()
	ad.current, ad.cancel = "", nil
}

// run admits requests until ctx ends, sending each result that was not
// superseded to out.
func (ad *admitter) run(ctx context.Context, out chan<- Admitted) {
	for {
		req, actx, ok := ad.next(ctx)
		if !ok {
			select {
			case <-ad.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		results := ad.pipeline.AdmitListing(actx, req.Listing, req.Now)
		superseded := actx.Err() != nil
		ad.done()
		if superseded {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case out <- Admitted{Source: req.Source, Generation: req.Generation, Results: results}:
		case <-ctx.Done():
			return
		}
	}
}
