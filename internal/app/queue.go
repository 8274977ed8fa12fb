package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// job is one pull-request head to check.
type job struct {
	key          string
	Repo         string // owner/name
	Owner, Name  string
	CloneURL     string
	HTMLURL      string
	Installation int64
	PR           int
	HeadSHA      string
	BaseRef      string
	BaseSHA      string
	// EventTime orders deliveries for the same pull request: GitHub does
	// not deliver in order, and an older push must not replace a newer one.
	EventTime time.Time
	Delivery  string
	Trigger   string
	// Force re-runs a head that was already checked (Re-run buttons).
	Force bool
}

// externalID is the check runs' external_id: the pull request and its
// base branch, so a Re-run of a check run that GitHub sends without pull
// requests (one from a fork) still finds what to check.
func (j *job) externalID() string {
	return fmt.Sprintf("%s#%d@%s", j.Repo, j.PR, j.BaseRef)
}

// parseExternalID reads externalID's format back.
func parseExternalID(s string) (repo string, pr int, base string, ok bool) {
	hash := strings.LastIndexByte(s, '#')
	if hash <= 0 {
		return "", 0, "", false
	}
	rest := s[hash+1:]
	at := strings.IndexByte(rest, '@')
	if at <= 0 || at == len(rest)-1 {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(rest[:at])
	if err != nil || n <= 0 {
		return "", 0, "", false
	}
	return s[:hash], n, rest[at+1:], true
}

// supersededError is the cancel cause of a run replaced by a newer push.
type supersededError struct{ by string }

func (e *supersededError) Error() string {
	return fmt.Sprintf("superseded by a newer push (%s)", short(e.by))
}

// errShutdown is the cancel cause of runs interrupted by a shutdown.
var errShutdown = errors.New("gate is shutting down; re-run the check")

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

type active struct {
	j      *job
	cancel context.CancelCauseFunc
}

// queue holds at most one waiting job per pull request (a newer push
// replaces the waiting one) and runs at most one job per pull request at a
// time; a newer push cancels the running one. Its size is bounded by the
// number of open pull requests and by max.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending map[string]*job
	order   []string
	running map[string]*active
	latest  *recent[time.Time]
	done    *recent[struct{}]
	max     int
	closed  bool
	m       *metrics
}

func newQueue(max int, m *metrics) *queue {
	q := &queue{pending: map[string]*job{}, running: map[string]*active{}, latest: newRecent[time.Time](8192), done: newRecent[struct{}](8192), max: max, m: m}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Submit outcomes.
const (
	outcomeQueued    = "queued"
	outcomeDuplicate = "duplicate"
	outcomeStale     = "stale"
	outcomeFull      = "full"
)

func (q *queue) submit(j *job) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return outcomeFull
	}
	if !j.EventTime.IsZero() {
		if t, ok := q.latest.get(j.key); ok && j.EventTime.Before(t) {
			return outcomeStale
		}
		q.latest.put(j.key, j.EventTime)
	}
	doneKey := j.key + "@" + j.HeadSHA
	if _, ok := q.done.get(doneKey); ok && !j.Force {
		return outcomeDuplicate
	}
	if r, ok := q.running[j.key]; ok {
		if r.j.HeadSHA == j.HeadSHA && !j.Force {
			return outcomeDuplicate
		}
		if r.j.HeadSHA != j.HeadSHA {
			r.cancel(&supersededError{by: j.HeadSHA})
			q.m.superseded.Inc()
		}
	}
	if p, ok := q.pending[j.key]; ok {
		if p.HeadSHA == j.HeadSHA && !j.Force {
			return outcomeDuplicate
		}
		if p.HeadSHA != j.HeadSHA {
			q.m.superseded.Inc()
		}
		j.Force = j.Force || p.Force && p.HeadSHA == j.HeadSHA
		q.pending[j.key] = j
		return outcomeQueued
	}
	if len(q.pending) >= q.max {
		return outcomeFull
	}
	q.pending[j.key] = j
	q.order = append(q.order, j.key)
	q.m.queueDepth.Set(float64(len(q.pending)))
	q.cond.Signal()
	return outcomeQueued
}

// next blocks until a job whose pull request is not running is waiting,
// and marks it running. It returns nil once the queue is closed.
func (q *queue) next(base context.Context) (*job, context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return nil, nil
		}
		for i, key := range q.order {
			if _, busy := q.running[key]; busy {
				continue
			}
			q.order = append(q.order[:i:i], q.order[i+1:]...)
			j := q.pending[key]
			delete(q.pending, key)
			ctx, cancel := context.WithCancelCause(base)
			q.running[key] = &active{j: j, cancel: cancel}
			q.m.queueDepth.Set(float64(len(q.pending)))
			q.m.running.Set(float64(len(q.running)))
			return j, ctx
		}
		q.cond.Wait()
	}
}

// finish releases a pull request's running slot. A completed head is
// remembered so a duplicate delivery does not check it again.
func (q *queue) finish(j *job, completed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if a, ok := q.running[j.key]; ok && a.j == j {
		a.cancel(nil)
		delete(q.running, j.key)
	}
	if completed {
		q.done.put(j.key+"@"+j.HeadSHA, struct{}{})
	}
	q.m.running.Set(float64(len(q.running)))
	q.cond.Broadcast()
}

// cancelKey drops the waiting job of a pull request and cancels its run.
func (q *queue) cancelKey(key, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pending[key]; ok {
		delete(q.pending, key)
		for i, k := range q.order {
			if k == key {
				q.order = append(q.order[:i:i], q.order[i+1:]...)
				break
			}
		}
	}
	if r, ok := q.running[key]; ok {
		r.cancel(errors.New(reason))
	}
	q.m.queueDepth.Set(float64(len(q.pending)))
}

// close stops handing out jobs and cancels running ones.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, r := range q.running {
		r.cancel(errShutdown)
	}
	q.cond.Broadcast()
}

// idle reports whether nothing waits or runs.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0 && len(q.running) == 0
}

// recent is a bounded map that forgets its oldest keys first.
type recent[V any] struct {
	max  int
	m    map[string]V
	ring []string
	pos  int
}

func newRecent[V any](max int) *recent[V] {
	return &recent[V]{max: max, m: map[string]V{}}
}

func (r *recent[V]) get(k string) (V, bool) {
	v, ok := r.m[k]
	return v, ok
}

func (r *recent[V]) put(k string, v V) {
	if _, ok := r.m[k]; ok {
		r.m[k] = v
		return
	}
	if len(r.ring) < r.max {
		r.ring = append(r.ring, k)
	} else {
		delete(r.m, r.ring[r.pos])
		r.ring[r.pos] = k
		r.pos = (r.pos + 1) % r.max
	}
	r.m[k] = v
}
