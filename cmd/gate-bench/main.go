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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gate-ops/gate/checks/config"
	"github.com/gate-ops/gate/checks/source"
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

// benchEnv is one environment of the generated repo.
type benchEnv struct {
	Name, Path string
	Labels     map[string]string
	Helm       bool
	data       string
	// patchDir holds the replicas.yaml patch the second commit changes.
	patchDir string
	// flux is set for a Flux cluster (-layout flux).
	flux *fluxEnv
}

func loadEnvs(repo, valuesDir string) ([]*benchEnv, error) {
	src, err := source.OpenDir(repo, 0)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Load(src, "")
	if err != nil {
		return nil, fmt.Errorf("generated gate.yaml: %w", err)
	}
	var envs []*benchEnv
	for _, e := range cfg.Environments {
		if strings.HasPrefix(e.Path, "clusters/") {
			fe, err := loadFluxEnv(repo, e.Path, valuesDir)
			if err != nil {
				return nil, err
			}
			be := &benchEnv{Name: e.Name, Path: e.Path, Labels: e.Labels, Helm: len(fe.releases) > 0, flux: fe}
			for _, p := range fe.paths {
				if strings.HasPrefix(p, "envs/") {
					be.patchDir = p
				}
			}
			envs = append(envs, be)
			continue
		}
		k, err := os.ReadFile(filepath.Join(repo, e.Path, "kustomization.yaml"))
		if err != nil {
			return nil, err
		}
		envs = append(envs, &benchEnv{Name: e.Name, Path: e.Path, patchDir: e.Path, Labels: e.Labels, Helm: strings.Contains(string(k), "platform/cache")})
	}
	if len(envs) == 0 {
		return nil, errors.New("the generated gate.yaml declares no environments")
	}
	return envs, nil
}

// commitRepo makes the repo a git repo with two commits: everything, then a
// change of one environment's replica patch.
func commitRepo(ctx context.Context, repo string, e *benchEnv) error {
	git := func(args ...string) error {
		p, err := runProc(ctx, repo, []string{"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z"}, nil, "git",
			append([]string{"-c", "user.name=bench", "-c", "user.email=bench@gate.invalid", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
		if err != nil {
			return err
		}
		if p.code != 0 {
			return fmt.Errorf("git %s: %s", strings.Join(args, " "), tail(p.stderr, 5))
		}
		return nil
	}
	if err := git("init", "-q"); err != nil {
		return err
	}
	if err := git("add", "."); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "synthetic ops repo"); err != nil {
		return err
	}
	p := filepath.Join(repo, e.patchDir, "replicas.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b = regexp.MustCompile(`value: \d+`).ReplaceAll(b, []byte("value: 7"))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	if err := git("commit", "-q", "-am", "scale "+e.Name); err != nil {
		return err
	}
	return nil
}

type gateCaps struct {
	check, base, cacheDir, cpuProfile bool
}

func probeGate(ctx context.Context, gate string) gateCaps {
	var c gateCaps
	if p, err := runProc(ctx, "", nil, nil, gate, "check", "--help"); err == nil && p.code == 0 {
		c.check = true
		help := string(p.stdout)
		c.base = strings.Contains(help, "--base")
		c.cacheDir = strings.Contains(help, "--cache-dir")
	}
	if p, err := runProc(ctx, "", nil, nil, gate, "--cpuprofile", os.DevNull, "version"); err == nil && p.code == 0 {
		c.cpuProfile = true
	}
	return c
}

var kubeconformSummaryRe = regexp.MustCompile(`Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)`)
var conftestSummaryRe = regexp.MustCompile(`\d+ tests?, \d+ passed, \d+ warnings?, (\d+) failures?`)

// runBaseline runs the baseline pipeline over envs, par at a time.
func runBaseline(ctx context.Context, repo, bin, schemaDir string, cset *conftestSet, o options, envs []*benchEnv) (sample, error) {
	type envOut struct {
		valid, invalid, errs, skipped, failures int
		rss                                     int64
		cpu                                     time.Duration
	}
	outs := make(map[string]*envOut, len(envs))
	for _, e := range envs {
		outs[e.Name] = &envOut{}
	}
	start := time.Now()
	err := forEach(envs, o.par, func(e *benchEnv) error {
		kust := []string{filepath.Join(bin, "kustomize"), "build"}
		if e.Helm {
			kust = append(kust, "--enable-helm", "--helm-command", filepath.Join(bin, "helm"))
		}
		kust = append(kust, e.Path)
		kc := []string{filepath.Join(bin, "kubeconform"), "-strict", "-summary", "-kubernetes-version", o.kubeVersion + ".0",
			"-schema-location", filepath.Join(schemaDir, kubeconformTemplate)}
		if e.flux != nil {
			// Flux's own kinds have no schema here; gate warns about them too.
			kc = append(kc, "-ignore-missing-schemas")
		}
		kc = append(kc, "-")
		ct := []string{filepath.Join(bin, "conftest"), "test", "--no-color", "--combine", "--parser", "yaml", "--data", e.data}
		for _, p := range cset.Paths {
			ct = append(ct, "-p", p)
		}
		ct = append(ct, "-")
		var procs []*proc
		var err error
		if e.flux != nil {
			procs, err = seqPipeline(ctx, repo, e.flux.commands(bin, o.kubeVersion), kc, ct)
			if err != nil {
				return fmt.Errorf("env %s: %w", e.Name, err)
			}
			// One producer line for the checks below: the consumers stay last.
			prod := &proc{}
			for _, p := range procs[:len(procs)-2] {
				prod.rss = max(prod.rss, p.rss)
				prod.cpu += p.cpu
			}
			procs = append([]*proc{prod}, procs[len(procs)-2:]...)
		} else {
			procs, err = pipeline(ctx, repo, kust, kc, ct)
			if err != nil {
				return fmt.Errorf("env %s: %w", e.Name, err)
			}
		}
		eo := outs[e.Name]
		for _, p := range procs {
			eo.rss = max(eo.rss, p.rss)
			eo.cpu += p.cpu
		}
		if procs[0].code != 0 {
			return fmt.Errorf("env %s: kustomize build exited %d: %s", e.Name, procs[0].code, tail(procs[0].stderr, 5))
		}
		if procs[1].code > 1 {
			return fmt.Errorf("env %s: kubeconform exited %d: %s", e.Name, procs[1].code, tail(append(procs[1].stdout, procs[1].stderr...), 5))
		}
		m := kubeconformSummaryRe.FindSubmatch(procs[1].stdout)
		if m == nil {
			return fmt.Errorf("env %s: kubeconform printed no summary: %s", e.Name, tail(append(procs[1].stdout, procs[1].stderr...), 5))
		}
		eo.valid, _ = strconv.Atoi(string(m[1]))
		eo.invalid, _ = strconv.Atoi(string(m[2]))
		eo.errs, _ = strconv.Atoi(string(m[3]))
		eo.skipped, _ = strconv.Atoi(string(m[4]))
		if procs[2].code > 1 {
			return fmt.Errorf("env %s: conftest exited %d: %s", e.Name, procs[2].code, tail(append(procs[2].stdout, procs[2].stderr...), 5))
		}
		// conftest exits 1 on failures and on errors alike (a policy it
		// cannot load): only its summary line tells them apart.
		m = conftestSummaryRe.FindSubmatch(procs[2].stdout)
		if m == nil {
			return fmt.Errorf("env %s: conftest printed no summary (exit %d): %s", e.Name, procs[2].code, tail(append(procs[2].stdout, procs[2].stderr...), 5))
		}
		eo.failures, _ = strconv.Atoi(string(m[1]))
		return nil
	})
	s := sample{wall: time.Since(start)}
	if err != nil {
		return s, err
	}
	var valid, invalid, errs, skipped, failures int
	for _, eo := range outs {
		s.peakRSS = max(s.peakRSS, eo.rss)
		s.cpu += eo.cpu
		valid += eo.valid
		invalid += eo.invalid
		errs += eo.errs
		skipped += eo.skipped
		failures += eo.failures
	}
	s.note = fmt.Sprintf("%d resources: %d invalid, %d errors, %d skipped; %d policy failures", valid+invalid+errs+skipped, invalid, errs, skipped, failures)
	return s, nil
}

// runGate runs one gate command in the repo. Exit 1 (the gate failed on
// findings) is a normal outcome; 2 is an error.
func runGate(ctx context.Context, repo, gate, jsonReport string, env []string, args ...string) (sample, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return sample{}, err
	}
	defer devnull.Close()
	start := time.Now()
	p, err := runProc(ctx, repo, env, devnull, gate, args...)
	s := sample{wall: time.Since(start)}
	if err != nil {
		return s, err
	}
	s.peakRSS, s.cpu = p.rss, p.cpu
	if p.code > 1 {
		return s, fmt.Errorf("gate %s exited %d: %s", strings.Join(args, " "), p.code, tail(p.stderr, 8))
	}
	if jsonReport != "" {
		s.note = summarizeReport(jsonReport)
	}
	return s, nil
}

// summarizeReport reads the counts that matter from a gate JSON report.
func summarizeReport(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "no report: " + err.Error()
	}
	var r struct {
		Envs []struct {
			Status    string `json:"status"`
			Resources int    `json:"resources"`
			Findings  []struct {
				Check string `json:"check"`
			} `json:"findings"`
		} `json:"environments"`
		Pass bool `json:"pass"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "unreadable report: " + err.Error()
	}
	resources := 0
	byCheck := map[string]int{}
	byStatus := map[string]int{}
	for _, e := range r.Envs {
		resources += e.Resources
		byStatus[e.Status]++
		for _, f := range e.Findings {
			byCheck[f.Check]++
		}
	}
	var parts []string
	for _, k := range sortedKeys(byCheck) {
		parts = append(parts, fmt.Sprintf("%s %d", k, byCheck[k]))
	}
	var st []string
	for _, k := range sortedKeys(byStatus) {
		st = append(st, fmt.Sprintf("%s %d", k, byStatus[k]))
	}
	return fmt.Sprintf("%d envs (%s), %d resources; findings: %s", len(r.Envs), strings.Join(st, ", "), resources, strings.Join(parts, ", "))
}

func tailOf(p *proc) string {
	if p == nil {
		return ""
	}
	return tail(append(p.stdout, p.stderr...), 10)
}

func printTable(out io.Writer, o options, envs []*benchEnv, results []*result) {
	helm := 0
	for _, e := range envs {
		if e.Helm {
			helm++
		}
	}
	layout := "kustomize overlays"
	if o.layout == "flux" {
		layout = fmt.Sprintf("Flux clusters, %d HelmReleases each", o.releases)
	}
	fmt.Fprintf(out, "\ngate benchmark (%s): %d envs (%d with a Helm chart) x %d apps, seed %d; %d runs each, medians; GOMAXPROCS %d, %d CPUs; baseline %d envs at once\n\n",
		layout, len(envs), helm, o.apps, o.seed, o.runs, runtime.GOMAXPROCS(0), runtime.NumCPU(), o.par)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pipeline\twall (median)\tmin\tmax\tcpu (median)\tpeak RSS\twhat it found")
	med := map[string]time.Duration{}
	cpu := map[string]time.Duration{}
	rss := map[string]int64{}
	for _, r := range results {
		switch {
		case r.def.skip != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tskipped: %s\n", r.def.title, r.def.skip)
			continue
		case len(r.samples) == 0:
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tFAILED: %v\n", r.def.title, firstLine(r.err))
			continue
		}
		var walls, cpus []time.Duration
		var peak int64
		for _, s := range r.samples {
			walls = append(walls, s.wall)
			cpus = append(cpus, s.cpu)
			peak = max(peak, s.peakRSS)
		}
		m := median(walls)
		med[r.def.id], cpu[r.def.id], rss[r.def.id] = m, median(cpus), peak
		lo, hi := walls[0], walls[0]
		for _, w := range walls {
			lo, hi = min(lo, w), max(hi, w)
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fs\t%.2fs\t%d MiB\t%s\n", r.def.title, m.Seconds(), lo.Seconds(), hi.Seconds(), cpu[r.def.id].Seconds(), peak>>20, r.samples[len(r.samples)-1].note)
	}
	tw.Flush()

	fmt.Fprintln(out, "\nratios (cpu-time medians, which decide the verdict; wall-clock ratio in brackets)")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tvalue\ttarget\tverdict")
	for _, t := range targetsFor(o.layout) {
		v, ok := judge(t, med, cpu)
		if !ok {
			fmt.Fprintf(tw, "%s\t-\t%s\tnot measured\n", t.name, targetText(t.target, t.atLeast))
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f (wall %.2f)\t%s\t%s\n", t.name, v.cpu, v.wall, targetText(t.target, t.atLeast), v.verdict)
	}
	tw.Flush()
	verdict := "MET"
	if rss["check"] >= checkMemoryTarget {
		verdict = "MISSED"
	}
	if rss["check"] == 0 {
		verdict = "not measured"
	}
	fmt.Fprintf(out, "gate check peak memory (max ru_maxrss over its runs): %d MiB, target < %d MiB: %s\n", rss["check"]>>20, checkMemoryTarget>>20, verdict)
	var worst int64
	for _, id := range []string{"check", "render", "base-cold", "base-warm"} {
		worst = max(worst, rss[id])
	}
	if worst > 0 {
		fmt.Fprintf(out, "gate peak memory over every gate pipeline: %d MiB\n", worst>>20)
	}
	if rss["baseline"] > 0 {
		fmt.Fprintf(out, "baseline peak memory: %d MiB per process (largest single kustomize/kubeconform/conftest; %d run at once)\n", rss["baseline"]>>20, o.par*3)
	}
}

// ratioTarget is one target the benchmark states as a ratio of two
// pipelines' medians (issue 20). The CPU-time ratio decides: on a shared
// machine wall-clock ratios move with the other processes, CPU time far less.
type ratioTarget struct {
	name    string
	a, b    string // pipeline ids: the ratio is a / b
	target  float64
	atLeast bool // the ratio must be >= target (else <=)
}

var targets = []ratioTarget{
	{"baseline / gate check", "baseline", "check", 6, true},
	{"gate check / render only", "check", "render", 1.2, false},
	{"one env, cold: gate / baseline one env", "base-cold", "baseline-one", 0.5, false},
	{"one env, warm: gate / baseline one env", "base-warm", "baseline-one", 0.3, false},
	{"one-env change (cold) / full check", "base-cold", "check", 0.15, false},
	{"baseline one env / baseline all", "baseline-one", "baseline", 1, false},
}

// targetsFor is the targets of a layout: on the Flux-shaped repo gate
// must be at least 3x faster than the flux-local style script (issue 14).
func targetsFor(layout string) []ratioTarget {
	if layout != "flux" {
		return targets
	}
	ts := append([]ratioTarget(nil), targets...)
	ts[0] = ratioTarget{"baseline (flux-local style) / gate check", "baseline", "check", 3, true}
	return ts
}

// checkMemoryTarget bounds the peak resident memory of a full gate check.
const checkMemoryTarget = 400 << 20

type ratioValue struct {
	cpu, wall float64
	verdict   string
}

// judge computes a target's ratios from the medians; ok is false when
// either pipeline was not measured.
func judge(t ratioTarget, wall, cpu map[string]time.Duration) (ratioValue, bool) {
	if wall[t.a] == 0 || wall[t.b] == 0 || cpu[t.a] == 0 || cpu[t.b] == 0 {
		return ratioValue{}, false
	}
	v := ratioValue{cpu: cpu[t.a].Seconds() / cpu[t.b].Seconds(), wall: wall[t.a].Seconds() / wall[t.b].Seconds(), verdict: "MET"}
	if t.atLeast && v.cpu < t.target || !t.atLeast && v.cpu > t.target {
		v.verdict = "MISSED"
	}
	return v, true
}

// loadAvg is the 1-minute load average ("?" where /proc is missing).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// busy reports a load average above the number of CPUs.
func busy(load string) bool {
	v, err := strconv.ParseFloat(load, 64)
	return err == nil && v > float64(runtime.NumCPU())
}

func targetText(t float64, atLeast bool) string {
	if atLeast {
		return fmt.Sprintf(">= %.2g", t)
	}
	return fmt.Sprintf("<= %.2g", t)
}

func firstLine(err error) string {
	if err == nil {
		return "no runs"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// profileGate runs `gate check` once with the hidden profiling flags and
// prints the top of the CPU and allocation profiles.
func profileGate(ctx context.Context, out io.Writer, repo, gate, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpu, mem := filepath.Join(dir, "check.cpu.pprof"), filepath.Join(dir, "check.allocs.pprof")
	if _, err := runGate(ctx, repo, gate, "", nil, "--cpuprofile", cpu, "--memprofile", mem, "check"); err != nil {
		return err
	}
	for _, pr := range []struct {
		file, title string
		args        []string
	}{
		{cpu, "CPU, cumulative", []string{"-top", "-cum", "-nodecount=30"}},
		{cpu, "CPU, flat", []string{"-top", "-nodecount=25"}},
		{mem, "allocated bytes, cumulative", []string{"-top", "-cum", "-sample_index=alloc_space", "-nodecount=30"}},
	} {
		args := append([]string{"tool", "pprof"}, pr.args...)
		args = append(args, gate, pr.file)
		cmd := exec.CommandContext(ctx, "go", args...)
		b, err := cmd.CombinedOutput()
		fmt.Fprintf(out, "\n== gate check profile: %s (%s)\n%s", pr.title, pr.file, b)
		if err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
	}
	return nil
}
