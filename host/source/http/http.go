// Package http is the staticPodURL source: it fetches a URL every
// httpCheckFrequency and delivers the Pod or PodList it serves as a whole
// source.Listing, one entry per pod, as the kubelet's HTTP source does.
// SetInterval changes the frequency while it runs (SIGHUP).
//
// IO: HTTP GET requests to the configured URL only. An unchanged body costs
// one request (If-None-Match with the server's ETag, and a content hash for
// servers without one). A failed fetch, a non-200 answer or an oversized or
// undecodable body produces an incomplete listing, which the agent ignores:
// the pods from the last good answer keep running.
package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/manifest"
	"github.com/staticlet/staticlet/host/source"
)

// DefaultTimeout is the kubelet's timeout for one fetch.
const DefaultTimeout = 10 * time.Second

// ErrFetch marks every failure to get a usable answer.
var ErrFetch = errors.New("fetch static pods")

// Source fetches URL every Interval.
type Source struct {
	URL      string
	Header   map[string][]string
	Interval time.Duration
	// Timeout bounds one fetch; default DefaultTimeout.
	Timeout time.Duration
	// Client defaults to a client with no redirects to other schemes.
	Client *nethttp.Client
	Logger hclog.Logger
	// Observe, when set, is told of every fetch ("relist" with its duration,
	// or "error"); for metrics.
	Observe func(kind string, took time.Duration)

	etag     string
	digest   string
	previous source.Listing

	intervalsOnce sync.Once
	// intervals carries a new Interval from SetInterval to Run; one slot,
	// the newest wins.
	intervals chan time.Duration
}

func (s *Source) intervalChanges() chan time.Duration {
	s.intervalsOnce.Do(func() { s.intervals = make(chan time.Duration, 1) })
	return s.intervals
}

// SetInterval changes how often a running Source fetches (a SIGHUP with a
// new httpCheckFrequency); safe to call from any goroutine, before or
// during Run. The next fetch is one new interval after the call.
func (s *Source) SetInterval(d time.Duration) {
	ch := s.intervalChanges()
	for {
		select {
		case ch <- d:
			return
		default:
			select {
			case <-ch: // drop the older pending value
			default:
			}
		}
	}
}

// Run fetches at once, then every Interval, until ctx is done.
func (s *Source) Run(ctx context.Context, out *source.Mailbox) error {
	log := s.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ticker := time.NewTicker(s.Interval)
	defer ticker.Stop()
	intervals := s.intervalChanges()
	failing := false
	for {
		start := time.Now()
		l := s.Fetch(ctx)
		if s.Observe != nil {
			if l.Complete {
				s.Observe("relist", time.Since(start))
			} else {
				s.Observe("error", 0)
			}
		}
		if !l.Complete && ctx.Err() == nil {
			if !failing {
				log.Warn("static pod URL failed; keeping the pods of the last good answer", "url", s.URL, "error", l.Note)
			}
			failing = true
		} else if failing && l.Complete {
			log.Info("static pod URL answers again", "url", s.URL)
			failing = false
		}
		out.Put(l)
		if !s.nextTick(ctx, ticker, intervals, log) {
			return nil
		}
	}
}

// nextTick waits for the ticker, resetting it to each new interval that
// arrives meanwhile; false once ctx is done.
func (s *Source) nextTick(ctx context.Context, ticker *time.Ticker, intervals <-chan time.Duration, log hclog.Logger) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
			return true
		case d := <-intervals:
			if d > 0 {
				log.Info("static pod URL check frequency changed", "url", s.URL, "interval", d)
				ticker.Reset(d)
			}
		}
	}
}

// Fetch gets the URL once and returns the listing.
func (s *Source) Fetch(ctx context.Context) source.Listing {
	fail := func(err error) source.Listing {
		return source.Listing{Source: source.NameHTTP, Root: s.URL, Complete: false, Note: err.Error()}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.URL, nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrFetch, err))
	}
	for k, vs := range s.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	client := s.Client
	if client == nil {
		client = nethttp.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrFetch, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == nethttp.StatusNotModified && s.previous.Complete {
		return s.previous
	}
	if resp.StatusCode != nethttp.StatusOK {
		return fail(fmt.Errorf("%w: %s answered %s", ErrFetch, s.URL, resp.Status))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxSize+1))
	if err != nil {
		return fail(fmt.Errorf("%w: read body: %w", ErrFetch, err))
	}
	if len(body) > manifest.MaxSize {
		return fail(fmt.Errorf("%w: body larger than %d bytes", ErrFetch, manifest.MaxSize))
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	if digest == s.digest && s.previous.Complete {
		s.etag = resp.Header.Get("ETag")
		return s.previous
	}
	files, err := split(s.URL, body)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrFetch, err))
	}
	s.etag, s.digest = resp.Header.Get("ETag"), digest
	s.previous = source.Listing{Source: source.NameHTTP, Root: s.URL, Complete: true, Files: files}
	if len(files) == 0 {
		s.previous.Note = "the URL serves an empty PodList"
	}
	return s.previous
}

type envelope struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

type itemMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// split turns a Pod or PodList body into one entry per pod. Each entry's
// path is the URL plus "#namespace/name" (or "#items[i]" for an unnamed
// item), so status lines name the pod and a reordered list changes nothing.
// Each pod is then decoded and validated by the admission pipeline like a
// file.
func split(url string, body []byte) ([]source.File, error) {
	jsonBody := body
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		var err error
		if jsonBody, err = yaml.YAMLToJSONStrict(body); err != nil {
			return nil, fmt.Errorf("body is neither JSON nor YAML: %w", err)
		}
	}
	var env envelope
	if err := json.Unmarshal(jsonBody, &env); err != nil {
		return nil, fmt.Errorf("body is not a Kubernetes object: %w", err)
	}
	switch {
	case env.Kind == "Pod":
		return []source.File{entry(url, "", jsonBody)}, nil
	case env.Kind == "PodList":
		files := make([]source.File, 0, len(env.Items))
		used := map[string]bool{}
		for i, item := range env.Items {
			var m itemMeta
			if err := json.Unmarshal(item, &m); err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			// List items may omit their type; the list says what they are.
			if m.APIVersion == "" || m.Kind == "" {
				item = withType(item)
			}
			id := fmt.Sprintf("items[%d]", i)
			if m.Metadata.Name != "" {
				ns := m.Metadata.Namespace
				if ns == "" {
					ns = "default"
				}
				if !used[ns+"/"+m.Metadata.Name] {
					id = ns + "/" + m.Metadata.Name
				}
			}
			// A repeated name keeps its index path; admission then rejects
			// it as a duplicate, naming both entries.
			used[id] = true
			files = append(files, entry(url, id, item))
		}
		return files, nil
	}
	return nil, fmt.Errorf("body is a %q, not a Pod or PodList", env.Kind)
}

func withType(item json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(item, &obj) != nil {
		return item
	}
	if _, ok := obj["apiVersion"]; !ok {
		obj["apiVersion"] = json.RawMessage(`"v1"`)
	}
	if _, ok := obj["kind"]; !ok {
		obj["kind"] = json.RawMessage(`"Pod"`)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return item
	}
	return out
}

func entry(url, id string, content []byte) source.File {
	path := url
	if id != "" {
		path = url + "#" + id
	}
	sum := sha256.Sum256(content)
	return source.File{Source: source.NameHTTP, Path: path, Content: content, Digest: hex.EncodeToString(sum[:])}
}
