// Command bench is gate's end-to-end benchmark (`make bench`). It generates
// a large synthetic ops repo (testdata/gen), then times, in one invocation
// and interleaved round by round so machine noise hits every pipeline
// alike:
//
//  1. the baseline teams script today: per environment, `kustomize build`
//     piped (tee) into `kubeconform -strict` and `conftest test`, every
//     environment, as many at once as there are cores;
//  2. `gate check` over every environment (schema + policy);
//  3. `gate render --all` to /dev/null: the floor, rendering with no checks;
//  4. `gate check --base` for a commit touching one environment, cold and
//     (when gate has a render cache) warm;
//
// With -layout flux the repo is Flux-shaped (clusters/<env> of Flux
// Kustomizations and HelmReleases) and the baseline is the flux-local
// style script: per cluster, `kustomize build` of every Kustomization's
// path and `helm template` of every HelmRelease with its values, the
// stream piped into kubeconform and conftest as above.
//
// and prints one table of medians with peak memory (ru_maxrss of the child
// processes), then the ratios the targets are stated in.
//
// kubeconform runs offline against schemas exported from the bundle gate
// embeds (plus strict schemas from the repo's CRDs), conftest against
// gate's own built-in policy library behind a conftest entry point, so both
// sides check the same things with the same rules.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

type options struct {
	bin, work, gen, policies, bundles string
	envs, apps, runs, par             int
	seed                              uint64
	kubeVersion                       string
	only                              string
	layout                            string
	releases                          int
	profile                           bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding gate, kustomize, kubeconform, conftest and helm (make build tools)")
	flag.StringVar(&o.work, "work", ".cache/bench", "scratch directory: the generated repo, schemas, reports, profiles")
	flag.StringVar(&o.gen, "gen", "./testdata/gen", "the generator package (go run)")
	flag.StringVar(&o.policies, "policies", "policies", "gate's built-in policy library, for the baseline's conftest")
	flag.StringVar(&o.bundles, "bundles", "checks/schema/bundles", "gate's embedded schema bundles, exported for the baseline's kubeconform")
	flag.IntVar(&o.envs, "envs", 50, "environments in the generated repo")
	flag.IntVar(&o.apps, "apps", 24, "apps per environment")
	flag.Uint64Var(&o.seed, "seed", 1, "generator seed")
	flag.IntVar(&o.runs, "runs", 5, "measured runs of each pipeline (the table shows medians)")
	flag.IntVar(&o.par, "parallel", runtime.NumCPU(), "environments the baseline runs at once")
	flag.StringVar(&o.kubeVersion, "kube-version", "1.35", "Kubernetes minor version both sides validate against")
	flag.StringVar(&o.layout, "layout", "kustomize", "repo shape: kustomize (envs/<env> overlays; baseline kustomize build) or flux (clusters/<env> of Flux Kustomizations and HelmReleases; baseline flux-local style)")
	flag.IntVar(&o.releases, "releases", 4, "with -layout flux: HelmReleases per cluster")
	flag.StringVar(&o.only, "only", "", "comma-separated pipeline ids to run (baseline,check,render,base-cold,base-warm,baseline-one)")
	flag.BoolVar(&o.profile, "profile", false, "after the runs, profile one `gate check` (cpu and allocs) into WORK/profiles and print the top entries")
	flag.Parse()
	ctx := context.Background()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pipelineDef is one thing the benchmark times.
type pipelineDef struct {
	id, title string
	// skip, when set, says why the pipeline cannot run on this build.
	skip string
	run  func(ctx context.Context) (sample, error)
	// prime runs before the measured rounds (cache warm-up); optional.
	prime func(ctx context.Context) error
}

type result struct {
	def     *pipelineDef
	samples []sample
	err     error
}

func run(ctx context.Context, o options, out io.Writer) error {
	work, err := filepath.Abs(o.work)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	tool := func(name string) string { return filepath.Join(bin, name) }
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

	// 1. The repo, with a second commit that touches one environment.
	repo := filepath.Join(work, "repo")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	logf("generating %d environments x %d apps (seed %d)", o.envs, o.apps, o.seed)
	if p, err := runProc(ctx, "", nil, nil, "go", "run", o.gen, "-out", repo, "-envs", strconv.Itoa(o.envs), "-apps", strconv.Itoa(o.apps), "-seed", strconv.FormatUint(o.seed, 10), "-kube-version", o.kubeVersion, "-layout", o.layout, "-releases", strconv.Itoa(o.releases)); err != nil || p.code != 0 {
		return fmt.Errorf("generate the repo: %v %s", err, tailOf(p))
	} else {
		logf("%s", strings.TrimSpace(string(p.stderr)))
	}
	envs, err := loadEnvs(repo, filepath.Join(work, "flux-values"))
	if err != nil {
		return err
	}
	changed := envs[0]
	if err := commitRepo(ctx, repo, changed); err != nil {
		return err
	}

	// 2. The baseline's inputs: offline schemas and the policy set.
	schemaDir := filepath.Join(work, "schemas")
	nk, err := exportK8sSchemas(filepath.Join(o.bundles, "kubernetes-"+o.kubeVersion+".json.gz"), schemaDir)
	if err != nil {
		return err
	}
	nc, err := exportCRDSchemas(repo, schemaDir)
	if err != nil {
		return err
	}
	logf("kubeconform schemas: %d Kubernetes kinds from gate's %s bundle, %d from the repo's CRDs", nk, o.kubeVersion, nc)
	var cset *conftestSet
	if _, err := os.Stat(o.policies); err == nil {
		// Absolute: conftest runs in the generated repo, not here.
		pol, err := filepath.Abs(o.policies)
		if err != nil {
			return err
		}
		if cset, err = writeConftestSet(pol, filepath.Join(work, "conftest")); err != nil {
			return err
		}
		logf("conftest policies: gate's library, %d per-resource rules %v, %d environment rules %v", len(cset.Resource), cset.Resource, len(cset.Env), cset.Env)
	}
	dataDir := filepath.Join(work, "conftest-data")
	for _, e := range envs {
		if e.data, err = writeEnvData(dataDir, e.Name, e.Labels, nil); err != nil {
			return err
		}
	}

	// 3. The pipelines.
	gate := tool("gate")
	caps := probeGate(ctx, gate)
	logf("gate: check=%v --base=%v --cache-dir=%v --cpuprofile=%v", caps.check, caps.base, caps.cacheDir, caps.cpuProfile)
	reports := filepath.Join(work, "reports")
	_ = os.MkdirAll(reports, 0o755)

	baselineTools := []string{"kustomize", "kubeconform", "conftest", "helm"}
	var missing []string
	for _, t := range baselineTools {
		if _, err := os.Stat(tool(t)); err != nil {
			missing = append(missing, t)
		}
	}
	baseSkip := ""
	if len(missing) > 0 {
		baseSkip = fmt.Sprintf("missing %s in %s: run `make tools`", strings.Join(missing, ", "), bin)
	} else if cset == nil {
		baseSkip = "no built-in policy library at " + o.policies
	}
	baseline := func(sel []*benchEnv) func(ctx context.Context) (sample, error) {
		return func(ctx context.Context) (sample, error) {
			return runBaseline(ctx, repo, bin, schemaDir, cset, o, sel)
		}
	}
	checkSkip := ""
	if !caps.check {
		checkSkip = "this gate has no `check` command yet"
	}
	baseFlagSkip := checkSkip
	if baseFlagSkip == "" && !caps.base {
		baseFlagSkip = "this gate's check has no --base"
	}
	warmSkip := baseFlagSkip
	if warmSkip == "" && !caps.cacheDir {
		warmSkip = "this gate has no render cache (--cache-dir)"
	}
	baseTitle := "baseline: kustomize | kubeconform -strict + conftest, all envs"
	if o.layout == "flux" {
		baseTitle = "baseline (flux-local style): per cluster kustomize build + helm template per release | kubeconform -strict + conftest, all clusters"
	}
	coldN := 0
	defs := []*pipelineDef{
		{id: "baseline", title: baseTitle, skip: baseSkip, run: baseline(envs)},
		{id: "check", title: "gate check, all envs (schema + policy)", skip: checkSkip, run: func(ctx context.Context) (sample, error) {
			return runGate(ctx, repo, gate, filepath.Join(reports, "check.json"), nil, "check", "-o", "json="+filepath.Join(reports, "check.json"))
		}},
		{id: "render", title: "gate render --all > /dev/null (floor)", run: func(ctx context.Context) (sample, error) {
			return runGate(ctx, repo, gate, "", nil, "render", "--all")
		}},
		{id: "base-cold", title: fmt.Sprintf("gate check --base HEAD~1, one env changed (%s), cold", changed.Name), skip: baseFlagSkip, run: func(ctx context.Context) (sample, error) {
			coldN++
			args := []string{"check", "--base", "HEAD~1", "-o", "json=" + filepath.Join(reports, "base-cold.json")}
			env := []string{"XDG_CACHE_HOME=" + filepath.Join(work, "xdg-cold", strconv.Itoa(coldN))}
			if caps.cacheDir {
				args = append(args, "--cache-dir", filepath.Join(work, "cache-cold", strconv.Itoa(coldN)))
			}
			return runGate(ctx, repo, gate, filepath.Join(reports, "base-cold.json"), env, args...)
		}},
		{id: "base-warm", title: "gate check --base HEAD~1, one env changed, warm render cache", skip: warmSkip,
			prime: func(ctx context.Context) error {
				_, err := runGate(ctx, repo, gate, "", nil, "check", "--base", "HEAD~1", "--cache-dir", filepath.Join(work, "cache-warm"), "-o", "json="+filepath.Join(reports, "prime.json"))
				return err
			},
			run: func(ctx context.Context) (sample, error) {
				return runGate(ctx, repo, gate, filepath.Join(reports, "base-warm.json"), nil, "check", "--base", "HEAD~1", "--cache-dir", filepath.Join(work, "cache-warm"), "-o", "json="+filepath.Join(reports, "base-warm.json"))
			}},
		{id: "baseline-one", title: fmt.Sprintf("baseline, the changed env (%s) only", changed.Name), skip: baseSkip, run: baseline([]*benchEnv{changed})},
	}
	if o.only != "" {
		want := map[string]bool{}
		for _, id := range strings.Split(o.only, ",") {
			want[strings.TrimSpace(id)] = true
		}
		var sel []*pipelineDef
		for _, d := range defs {
			if want[d.id] {
				sel = append(sel, d)
			}
		}
		defs = sel
	}

	loadStart := loadAvg()
	// 4. Warm-up (page cache, caches), then interleaved measured rounds.
	results := make([]*result, len(defs))
	for i, d := range defs {
		results[i] = &result{def: d}
		if d.skip != "" {
			logf("skip %s: %s", d.id, d.skip)
			continue
		}
		if d.prime != nil {
			if err := d.prime(ctx); err != nil {
				results[i].err = err
				continue
			}
		}
		logf("warm-up %s", d.id)
		if _, err := d.run(ctx); err != nil {
			results[i].err = err
			logf("%s failed: %v", d.id, err)
		}
	}
	for round := 1; round <= o.runs; round++ {
		for _, r := range results {
			if r.def.skip != "" || r.err != nil {
				continue
			}
			s, err := r.def.run(ctx)
			if err != nil {
				r.err = err
				logf("%s failed: %v", r.def.id, err)
				continue
			}
			r.samples = append(r.samples, s)
			logf("round %d/%d %-12s %6.2fs wall %6.2fs cpu %5d MiB  %s", round, o.runs, r.def.id, s.wall.Seconds(), s.cpu.Seconds(), s.peakRSS>>20, s.note)
		}
	}
	printTable(out, o, envs, results)
	fmt.Fprintf(out, "load average: %s at the start, %s at the end (%d CPUs)\n", loadStart, loadAvg(), runtime.NumCPU())
	if busy(loadStart) || busy(loadAvg()) {
		fmt.Fprintln(out, "other processes were using the CPUs: wall-clock ratios favour the baseline's many processes; the CPU-time ratios are the steadier figure")
	}
	if o.profile && caps.check && caps.cpuProfile {
		return profileGate(ctx, out, repo, gate, filepath.Join(work, "profiles"))
	}
	return nil
}
