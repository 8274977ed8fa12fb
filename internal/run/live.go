package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/engine"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/internal/cluster"
)

// Live is the comparison with running clusters, shared by `gate diff
// --live` and the live stage of `gate check`.
type Live struct {
	Enabled    bool
	Kubeconfig string
	Context    string
	// Timeout bounds one environment's comparison; 0 for gate.yaml's.
	Timeout time.Duration
}

// liveTarget is the cluster one environment is compared with.
type liveTarget struct {
	kubeconfig, context string
}

func (t liveTarget) String() string {
	if t.context != "" {
		return t.context
	}
	return "current context"
}

// target picks the cluster for env: the context gate.yaml names for the
// environment, else Context / Kubeconfig. ok is false when the environment
// names no cluster and no flag gave one.
func (o Live) target(env checks.Env, cfg *config.Config) (liveTarget, bool) {
	kc := o.Kubeconfig
	if kc == "" && cfg != nil {
		kc = expandHome(cfg.Live.Kubeconfig)
	}
	switch {
	case env.Cluster != "":
		return liveTarget{kubeconfig: kc, context: env.Cluster}, true
	case o.Context != "" || o.Kubeconfig != "":
		return liveTarget{kubeconfig: kc, context: o.Context}, true
	}
	return liveTarget{}, false
}

func (o Live) envTimeout(cfg *config.Config) (time.Duration, error) {
	if o.Timeout > 0 {
		return o.Timeout, nil
	}
	if cfg != nil && cfg.Live.Timeout != "" {
		d, err := time.ParseDuration(cfg.Live.Timeout)
		if err != nil {
			return 0, fmt.Errorf("gate.yaml live.timeout %q: %w", cfg.Live.Timeout, err)
		}
		return d, nil
	}
	return 2 * time.Minute, nil
}

// Stage returns the live stage when Enabled (nil otherwise), and findings
// for live settings in gate.yaml that do not parse. Clients are made once
// per kubeconfig and context and shared by the environments.
func (o Live) Stage(cfg *config.Config) (engine.Stage, []checks.Finding) {
	if !o.Enabled {
		return nil, nil
	}
	timeout, err := o.envTimeout(cfg)
	if err != nil {
		return nil, []checks.Finding{{Check: live.CheckName, RuleID: live.RuleError, Severity: checks.SeverityError,
			Message: err.Error(), Origin: checks.Origin{File: configFile(cfg), Line: configLine(cfg, "live")}}}
	}
	type conn struct {
		c   *cluster.Client
		err error
	}
	var mu sync.Mutex
	conns := map[liveTarget]conn{}
	sel := ""
	if cfg != nil {
		sel = cfg.Live.PruneSelector
	}
	return &live.Stage{
		Options: live.Options{PruneSelector: sel, Timeout: timeout},
		Connect: func(_ context.Context, env checks.Env) (live.Cluster, string, error) {
			t, ok := o.target(env, cfg)
			if !ok {
				return nil, "", live.ErrNoCluster
			}
			mu.Lock()
			defer mu.Unlock()
			cn, seen := conns[t]
			if !seen {
				cn.c, cn.err = newLiveClient(t, timeout)
				conns[t] = cn
			}
			if cn.err != nil {
				return nil, t.String(), cn.err
			}
			return cn.c, t.String(), nil
		},
	}, nil
}

func newLiveClient(t liveTarget, timeout time.Duration) (*cluster.Client, error) {
	rc, err := cluster.Config(t.kubeconfig, t.context)
	if err != nil {
		return nil, err
	}
	reqTimeout := cluster.DefaultRequestTimeout
	if timeout < reqTimeout {
		reqTimeout = timeout
	}
	return cluster.New(rc, reqTimeout)
}

func configFile(cfg *config.Config) string {
	if cfg == nil || cfg.File == "" {
		return config.FileName
	}
	return cfg.File
}

func configLine(cfg *config.Config, key string) int {
	if cfg == nil {
		return 0
	}
	return cfg.Lines[key]
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}
