package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/diff"
	"github.com/gate-ops/gate/checks/live"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/cluster"
	"github.com/gate-ops/gate/internal/config"
)

// liveOptions are the flags of the comparison with running clusters, shared
// by `gate diff --live` and the live stage of `gate check`.
type liveOptions struct {
	enabled    bool
	kubeconfig string
	context    string
	timeout    time.Duration
}

// addLiveFlags binds --live, --kubeconfig, --context and --live-timeout.
func addLiveFlags(fs *pflag.FlagSet, o *liveOptions) {
	fs.BoolVar(&o.enabled, "live", false, "also compare with the live cluster of each environment (server-side dry run, prune preview, drift)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --live (default: gate.yaml live.kubeconfig, $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kube context for --live environments that name no cluster in gate.yaml")
	fs.DurationVar(&o.timeout, "live-timeout", 0, "bound on comparing one environment with its cluster (default: gate.yaml live.timeout, else 2m)")
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
// environment, else --context / --kubeconfig. ok is false when the
// environment names no cluster and no flag gave one.
func (o *liveOptions) target(env checks.Env, cfg *config.Config) (liveTarget, bool) {
	kc := o.kubeconfig
	if kc == "" && cfg != nil {
		kc = expandHome(cfg.Live.Kubeconfig)
	}
	switch {
	case env.Cluster != "":
		return liveTarget{kubeconfig: kc, context: env.Cluster}, true
	case o.context != "" || o.kubeconfig != "":
		return liveTarget{kubeconfig: kc, context: o.context}, true
	}
	return liveTarget{}, false
}

func (o *liveOptions) envTimeout(cfg *config.Config) (time.Duration, error) {
	if o.timeout > 0 {
		return o.timeout, nil
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

// attachLive compares every environment of rep that has a cluster with its
// live state: it fills EnvReport.Live and EnvReport.Drift and adds the live
// findings (a cluster that cannot be reached is an error finding, never a
// silent pass). heads and bases map environment names to their renderings;
// bases may be nil (no drift then). Call rep.Finalize afterwards. This is
// the one entry point `gate diff --live` and `gate check --live` call.
func (o *liveOptions) attachLive(ctx context.Context, g *globals, cfg *config.Config, rep *checks.Report, heads, bases map[string]*render.Result) {
	if !o.enabled {
		return
	}
	timeout, err := o.envTimeout(cfg)
	if err != nil {
		rep.Findings = append(rep.Findings, checks.Finding{Check: live.CheckName, RuleID: live.RuleError, Severity: checks.SeverityError,
			Message: err.Error(), Origin: checks.Origin{File: configFile(cfg), Line: configLine(cfg, "live")}})
		return
	}
	clients := map[liveTarget]*cluster.Client{}
	clientErrs := map[liveTarget]error{}
	var dopts diff.Options
	if cfg != nil {
		dopts = diff.FromConfig(cfg.Diff)
	}
	for i := range rep.Envs {
		er := &rep.Envs[i]
		head := heads[er.Env.Name]
		if head == nil {
			continue
		}
		if head.Failed() {
			// A broken rendering is already an error; comparing a partial
			// rendering would report its missing objects as deletions.
			continue
		}
		t, ok := o.target(er.Env, cfg)
		if !ok {
			er.Findings = append(er.Findings, checks.Finding{Check: live.CheckName, RuleID: "live/no-cluster", Severity: checks.SeverityNotice, Env: er.Env.Name,
				Message: "not compared with a live cluster: the environment names no cluster in gate.yaml and no --context was given", Origin: checks.Origin{File: er.Env.Path}})
			continue
		}
		c, cerr := clients[t], clientErrs[t]
		if c == nil && cerr == nil {
			c, cerr = newLiveClient(t, timeout)
			clients[t], clientErrs[t] = c, cerr
		}
		if cerr != nil {
			er.Findings = append(er.Findings, checks.Finding{Check: live.CheckName, RuleID: live.RuleUnreachable, Severity: checks.SeverityError, Env: er.Env.Name,
				Message: fmt.Sprintf("cannot compare with the live cluster: %v", cerr), Origin: checks.Origin{File: er.Env.Path}})
			continue
		}
		if g != nil && g.log != nil {
			g.log.Info("comparing with the live cluster", "env", er.Env.Name, "context", t.String(), "server", c.Server())
		}
		sel := ""
		if cfg != nil {
			sel = cfg.Live.PruneSelector
		}
		res := live.Compare(ctx, c, head, bases[er.Env.Name], live.Options{
			PruneSelector: sel, Diff: dopts, Timeout: timeout, Server: t.String(),
		})
		er.Live, er.Drift = res.Live, res.Drift
		er.Findings = append(er.Findings, res.Findings...)
	}
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

// newLiveRBACCmd prints the ClusterRoles documenting the access --live needs.
func newLiveRBACCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rbac",
		Short: "Print the ClusterRoles gate needs for --live (read-only, plus optional dry-run)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := g.stdout.Write(cluster.RBAC)
			return err
		},
	}
}

func init() {
	extraCommands = append(extraCommands, func(g *globals) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "live",
			Short: "Helpers for comparing with live clusters (see gate diff --live)",
			Args:  cobra.NoArgs,
		}
		cmd.AddCommand(newLiveRBACCmd(g))
		return cmd
	})
}
