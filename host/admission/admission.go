package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/staticlet/staticlet/host/manifest"
	"github.com/staticlet/staticlet/host/pod"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/validation"
)

// Verdict is the outcome for one file.
type Verdict string

// Verdicts, as printed by `staticlet check -o json` and the status API.
const (
	Accepted Verdict = "accepted"
	Rejected Verdict = "rejected"
	Ignored  Verdict = "ignored"
)

// Reason explains a rejection (or, for ignored files, why the file is not a
// manifest). Field is a field path such as spec.containers[0].image, empty
// when the reason concerns the whole file. Plugin names the plugin that
// decided, empty for staticlet's built-in checks.
type Reason struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Plugin  string `json:"plugin,omitempty"`
}

func (r Reason) String() string {
	s := r.Message
	if r.Field != "" {
		s = r.Field + ": " + s
	}
	if r.Plugin != "" {
		s = "plugin " + r.Plugin + ": " + s
	}
	return s
}

// Result is the verdict on one file.
type Result struct {
	Source string
	File   string
	Digest string
	// Verdict is Accepted exactly when Pod is set.
	Verdict Verdict
	Pod     *corev1.Pod
	// ManifestName is the pod's metadata.name as the manifest (after
	// mutating plugins) gives it, before the node-name suffix: the name
	// other pods' staticlet.dev/start-after annotations use.
	ManifestName string
	Reasons      []Reason
	Warnings     []string
	// Audit holds plugin decisions in Audit mode: reported, not enforced.
	Audit []string
	// Mutations lists the changes mutating plugins made.
	Mutations []string
	// Seen is when this file's current content was first evaluated.
	Seen time.Time
}

// Options configure a pipeline.
type Options struct {
	NodeName string
	// Policy is the plugin chain; nil for none.
	Policy Policy
	// Runtime is the runtime's capability check; nil admits whatever
	// validation and the policy admit.
	Runtime RuntimeCheck
}

// RuntimeCheck says what of a pod the node's runtime cannot run on this
// host (tty, a sysctl the node does not allow, AppArmor where there is
// none), each error naming its field. Admission asks it so such a pod is a
// rejected manifest, and a running pod's last good version keeps running,
// rather than a pod that fails to start. It must be pure: admission calls it
// for every changed file.
type RuntimeCheck interface {
	Supports(pod *corev1.Pod) field.ErrorList
}

// Pipeline evaluates files. It caches results and is not safe for concurrent
// use: the agent loop and `check` each own one.
type Pipeline struct {
	opts  Options
	cache map[cacheKey]Result
	// cachedUnder is the policy fingerprint the cache was filled under.
	cachedUnder string
}

type cacheKey struct {
	source, file, digest string
}

func fingerprint(p Policy) string {
	if p == nil {
		return ""
	}
	return p.Fingerprint()
}

// New returns a pipeline for one node.
func New(opts Options) *Pipeline {
	return &Pipeline{opts: opts, cache: map[cacheKey]Result{}}
}

// AdmitListing evaluates every file of a listing, reusing cached results for
// unchanged files, and forgets files that are gone.
//
// When the policy's fingerprint changed since the cache was filled (a plugin
// or its settings changed), every file is evaluated again.
func (p *Pipeline) AdmitListing(ctx context.Context, l source.Listing, now time.Time) []Result {
	if fp := fingerprint(p.opts.Policy); fp != p.cachedUnder {
		p.cache = map[cacheKey]Result{}
		p.cachedUnder = fp
	}
	results := make([]Result, 0, len(l.Files))
	keep := make(map[cacheKey]bool, len(l.Files))
	for _, f := range l.Files {
		key := cacheKey{source: f.Source, file: f.Path, digest: f.Digest}
		keep[key] = true
		results = append(results, p.admitCached(ctx, key, f, now))
	}
	for key := range p.cache {
		if key.source == l.Source && !keep[key] {
			delete(p.cache, key)
		}
	}
	return results
}

func (p *Pipeline) admitCached(ctx context.Context, key cacheKey, f source.File, now time.Time) Result {
	if f.Ignored != "" || f.ReadErr != nil {
		return p.Admit(ctx, f, now)
	}
	if r, ok := p.cache[key]; ok {
		return r
	}
	r := p.Admit(ctx, f, now)
	if ctx.Err() == nil {
		// A result under an ended context may hold the plugins' context
		// error rather than their verdict: admit the file again next time.
		p.cache[key] = r
	}
	return r
}

// Admit evaluates one file without the cache.
func (p *Pipeline) Admit(ctx context.Context, f source.File, now time.Time) Result {
	r := Result{Source: f.Source, File: f.Path, Digest: f.Digest, Seen: now}
	switch {
	case f.Ignored != "":
		r.Verdict = Ignored
		r.Reasons = []Reason{{Message: f.Ignored}}
		return r
	case f.ReadErr != nil:
		return reject(r, Reason{Message: readErrorMessage(f.ReadErr)})
	}
	doc, err := manifest.Decode(f.Content)
	if err != nil {
		var de *manifest.Error
		if errors.As(err, &de) {
			return reject(r, Reason{Field: de.Field, Message: fmt.Sprintf("%s: %s", de.Kind, de.Reason)})
		}
		return reject(r, Reason{Message: err.Error()})
	}
	r.Warnings = doc.Warnings
	if doc.Pod.Name == "" {
		// Checked before defaulting: the suffix would make an empty name valid.
		return reject(r, Reason{Field: "metadata.name", Message: "Required value: a static pod needs a name"})
	}
	opts := pod.StaticOptions{NodeName: p.opts.NodeName, Source: f.Source, Seen: now}
	policy := p.opts.Policy
	asRead := doc.CanonicalJSON
	if policy != nil && ctx.Err() != nil {
		// The caller gave up (the agent cancels an admission a newer listing
		// supersedes): call no plugin for a result that will be dropped.
		return reject(r, Reason{Plugin: "chain", Message: "admission cancelled: " + ctx.Err().Error()})
	}
	if policy != nil {
		var denied bool
		doc, opts.Name, denied = p.mutateAndName(ctx, policy, f, doc, &r)
		if denied {
			return r
		}
	}
	static, err := pod.MakeStatic(doc.Pod, doc.CanonicalJSON, opts)
	if err != nil {
		return reject(r, Reason{Message: err.Error()})
	}
	errs := append(validation.ValidatePod(static), validation.ValidateStartAfter(static, doc.Pod.Name)...)
	if p.opts.Runtime != nil {
		errs = append(errs, p.opts.Runtime.Supports(static)...)
	}
	for _, fe := range errs {
		r.Reasons = append(r.Reasons, Reason{Field: fe.Field, Message: fe.ErrorBody()})
	}
	if policy != nil {
		final, err := json.Marshal(static)
		if err != nil {
			return reject(r, Reason{Message: fmt.Sprintf("encode pod for plugins: %v", err)})
		}
		out, err := policy.Validate(ctx, PolicyInput{File: f.Path, Source: f.Source, Manifest: final, AsRead: asRead})
		r.absorb(out, err)
	}
	if len(r.Reasons) > 0 {
		r.Verdict = Rejected
		return r
	}
	r.Verdict = Accepted
	r.Pod = static
	r.ManifestName = doc.Pod.Name
	return r
}

// mutateAndName runs the mutation and naming stages. The mutated manifest
// is decoded again, so a plugin cannot hand the agent something that is not
// a Pod; its canonical form is what the UID is computed from.
func (p *Pipeline) mutateAndName(ctx context.Context, policy Policy, f source.File, doc *manifest.Document, r *Result) (*manifest.Document, string, bool) {
	in := PolicyInput{File: f.Path, Source: f.Source, Manifest: doc.CanonicalJSON, AsRead: doc.CanonicalJSON}
	mutation, err := policy.Mutate(ctx, in)
	r.absorb(mutation.PolicyOutcome, err)
	if len(r.Reasons) > 0 {
		r.Verdict = Rejected
		return doc, "", true
	}
	if len(mutation.Changes) > 0 {
		mutated, err := manifest.Decode(mutation.Manifest)
		if err != nil {
			*r = reject(*r, Reason{Message: fmt.Sprintf("mutated manifest: %v", err), Plugin: "mutation"})
			return doc, "", true
		}
		doc = mutated
		r.Mutations = mutation.Changes
		in.Manifest = doc.CanonicalJSON
	}
	naming, err := policy.Name(ctx, in)
	r.absorb(naming.PolicyOutcome, err)
	if len(r.Reasons) > 0 {
		r.Verdict = Rejected
		return doc, "", true
	}
	return doc, naming.Name, false
}

// absorb adds a stage's outcome to the result. An error from the chain
// itself (not from one plugin, which the chain reports by failure policy)
// rejects: without the policy's answer the manifest cannot be admitted.
func (r *Result) absorb(out PolicyOutcome, err error) {
	if err != nil {
		r.Reasons = append(r.Reasons, Reason{Message: fmt.Sprintf("plugin chain: %v", err), Plugin: "chain"})
	}
	r.Reasons = append(r.Reasons, out.Denials...)
	r.Warnings = append(r.Warnings, out.Warnings...)
	r.Audit = append(r.Audit, out.Audit...)
}

func reject(r Result, reasons ...Reason) Result {
	r.Verdict = Rejected
	r.Reasons = append(r.Reasons, reasons...)
	return r
}

func readErrorMessage(err error) string {
	var de *manifest.Error
	if errors.As(err, &de) {
		return fmt.Sprintf("%s: %s", de.Kind, de.Reason)
	}
	return err.Error()
}
