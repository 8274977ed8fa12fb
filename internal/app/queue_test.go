package app

import (
	"testing"
)

func TestExternalIDRoundTrip(t *testing.T) {
	j := &Job{Repo: "gate-ops/shop-ops", PR: 12, BaseRef: "release/1.2"}
	repo, pr, base, ok := parseExternalID(j.externalID())
	if !ok || repo != j.Repo || pr != 12 || base != "release/1.2" {
		t.Errorf("round trip of %q: %q %d %q %v", j.externalID(), repo, pr, base, ok)
	}
	for _, bad := range []string{"", "gate-ops/shop-ops#12", "gate-ops/shop-ops#@main", "gate-ops/shop-ops#x@main", "gate-ops/shop-ops#-3@main", "#3@main", "gate-ops/shop-ops#3@"} {
		if _, _, _, ok := parseExternalID(bad); ok {
			t.Errorf("parseExternalID(%q) accepted it", bad)
		}
	}
}
