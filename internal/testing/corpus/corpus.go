// Package corpus guards the tests that render whole corpora (every
// testdata repo, the hostile corpus, ../shared/corpus).
package corpus

import (
	"strings"
	"testing"
)

// Wide guards a test that renders whole corpora. Under the race detector
// such a test costs ten times the CPU and up to 20 GB, for no race it
// could find that the concurrent tests do not: it is skipped there, and
// `make test` runs every test named ...Corpus again without -race
// (`make test-corpus`: go test -run 'Corpus$'). A corpus-wide test whose
// name does not end in Corpus would escape that run, so it fails.
func Wide(t testing.TB) {
	t.Helper()
	if top, _, _ := strings.Cut(t.Name(), "/"); !strings.HasSuffix(top, "Corpus") {
		t.Fatalf("%s renders whole corpora: its name must end in Corpus for make test's corpus run", top)
	}
	if testing.Short() {
		t.Skip("renders whole corpora")
	}
	if raceDetector {
		t.Skip("renders whole corpora: make test runs it without the race detector")
	}
}
