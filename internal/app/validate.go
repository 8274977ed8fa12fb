package app

import (
	"fmt"
	"regexp"
)

var (
	shaRe      = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	repoNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
)

// validate refuses a job built from a delivery that lacks what a run
// needs. A signed delivery of the wrong shape ({"action":"opened"} and
// nothing else) would otherwise be queued and fail later, against GitHub,
// with an empty repository name; it is answered 400 instead.
func (j *Job) validate() error {
	switch {
	case !repoNameRe.MatchString(j.Repo) || j.Repo != j.Owner+"/"+j.Name:
		return fmt.Errorf("invalid %s delivery: repository %q (owner %q, name %q) is not owner/name", j.Trigger, j.Repo, j.Owner, j.Name)
	case j.Installation <= 0:
		return fmt.Errorf("invalid %s delivery: no installation id", j.Trigger)
	case j.PR <= 0:
		return fmt.Errorf("invalid %s delivery: no pull request number", j.Trigger)
	case !shaRe.MatchString(j.HeadSHA):
		return fmt.Errorf("invalid %s delivery: head SHA %q is not a commit id", j.Trigger, j.HeadSHA)
	}
	return nil
}
