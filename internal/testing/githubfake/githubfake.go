// Package githubfake is a fake GitHub REST API for tests of the App. It is
// strict where GitHub is: every request is routed and validated against
// GitHub's own OpenAPI description of the Checks and App-token endpoints
// (spec/checks-and-apps.openapi.json, kin-openapi), an invalid one gets 422
// with GitHub's validation-error shape, installation tokens are minted only
// for a valid RS256 app JWT, and the checks endpoints want such a token. It
// records every check run, validates its own responses against the response
// schemas so it cannot drift from GitHub, and injects faults on demand (5xx,
// secondary rate limits with Retry-After, slow answers).
package githubfake

import (
	"context"
	"crypto/rsa"
	_ "embed"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

//go:embed spec/checks-and-apps.openapi.json
var specJSON []byte

const docsURL = "https://docs.github.com/rest/checks/runs"

// Options configure the fake.
type Options struct {
	// AppID is the GitHub App id the JWT's iss must name.
	AppID int64
	// AppKey is the public half of the App's private key.
	AppKey *rsa.PublicKey
	// Installations maps installation id to the repositories
	// ("owner/name") it is installed on.
	Installations map[int64][]string
	// TokenTTL is how long minted installation tokens live (default 1h).
	TokenTTL time.Duration
}

// Annotation is a recorded check-run annotation.
type Annotation struct {
	Path      string `json:"path"`
	StartLine int    `json:"start_line"`
	EndLine   int    `json:"end_line"`
	Level     string `json:"annotation_level"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message"`
}

// CheckRun is a check run as the fake holds it.
type CheckRun struct {
	ID          int64
	Repo        string
	Name        string
	HeadSHA     string
	Status      string
	Conclusion  string
	DetailsURL  string
	ExternalID  string
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation
	// Statuses lists every status the check run went through, in order
	// (queued, in_progress, completed), without repeats.
	Statuses []string
	// Actions are the identifiers of its requested-action buttons.
	Actions []string
	// Conclusions lists every conclusion it was given, in order, without
	// repeats: more than one means a conclusion was overwritten.
	Conclusions []string
	// Requests counts the create and update requests that touched it.
	Requests    int
	StartedAt   time.Time
	CompletedAt time.Time
	// DoneAt is when the fake first saw it completed (its own clock).
	DoneAt time.Time
}

// Fault is an injected failure: a status (with an optional Retry-After) and
// or a delay before answering.
type Fault struct {
	Status     int
	RetryAfter time.Duration
	Delay      time.Duration
	// Lost carries the request out first and then fails the answer (the
	// delay and or status): GitHub did the work, the client never heard.
	Lost bool
}

// FaultFunc decides the fault for the n-th request (1-based, counted per
// operation id such as "checks/create") or returns nil to answer normally.
type FaultFunc func(op string, n int) *Fault

// Fake is the fake GitHub. Serve it with net/http (httptest.NewServer).
type Fake struct {
	opts   Options
	doc    *openapi3.T
	router routers.Router

	mu       sync.Mutex
	tokens   map[string]token
	runs     map[int64]*CheckRun
	nextID   int64
	counts   map[string]int
	fault    FaultFunc
	problems []string
	log      []string
	bodies   [][]byte
}

type token struct {
	installation int64
	repos        []string
	expires      time.Time
}

// New loads the OpenAPI description and returns a fake.
func New(opts Options) (*Fake, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(specJSON)
	if err != nil {
		return nil, fmt.Errorf("load GitHub OpenAPI description: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate GitHub OpenAPI description: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route GitHub OpenAPI description: %w", err)
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	return &Fake{opts: opts, doc: doc, router: router, tokens: map[string]token{}, runs: map[int64]*CheckRun{}, nextID: 4000000, counts: map[string]int{}}, nil
}

// SetFaults installs (or with nil removes) a fault injector.
func (f *Fake) SetFaults(fn FaultFunc) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// CheckRuns returns a copy of every check run, by id.
func (f *Fake) CheckRuns() []CheckRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]CheckRun, 0, len(f.runs))
	for _, r := range f.runs {
		c := *r
		c.Annotations = append([]Annotation(nil), r.Annotations...)
		c.Statuses = append([]string(nil), r.Statuses...)
		c.Conclusions = append([]string(nil), r.Conclusions...)
		c.Actions = append([]string(nil), r.Actions...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Problems lists requests the fake could not answer as GitHub would:
// routes outside the description and responses failing its schemas. A
// correct App leaves it empty.
func (f *Fake) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// Log lists "METHOD path -> status" of every request, in order.
func (f *Fake) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// Bodies returns the raw body of every request the fake received, in
// order (tests search them for what must never leave the App).
func (f *Fake) Bodies() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...)
}

// Count returns how many requests an operation id received.
func (f *Fake) Count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *Fake) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}
