package engine

import (
	"context"
	"fmt"

	"github.com/gate-ops/gate/checks"
)

// Untouched names the environments of envs (as Plan returns them) that an
// incremental Run of req leaves out because no file of the change reaches
// them: Run reports them EnvUntouched with NotRenderedReason. It is the
// same decision made before the run, so the App can create their check
// runs completed neutral in one request. Nil when req is not incremental
// or has no base to compare with.
func Untouched(req *Request, envs []checks.Env) ([]string, error) {
	if !req.Incremental {
		return nil, nil
	}
	changed := req.ChangedFiles
	if changed == nil && req.Base != nil {
		var err error
		if changed, err = ChangedFiles(req.Base, req.Head); err != nil {
			return nil, fmt.Errorf("list the files the change touches: %w", err)
		}
	}
	if changed == nil {
		return nil, nil
	}
	because := affectedEnvs(context.Background(), req, envs, changed)
	var out []string
	for _, e := range envs {
		if _, ok := because[e.Name]; !ok {
			out = append(out, e.Name)
		}
	}
	return out, nil
}
