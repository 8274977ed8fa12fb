package run

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gate-ops/gate/checks/charts"
	"github.com/gate-ops/gate/checks/render"
	"github.com/gate-ops/gate/internal/app"
)

// Serve is what `gate serve` needs beyond the App's own settings: where
// its secrets and caches are, and how it renders.
type Serve struct {
	PrivateKeyFile string
	// SecretFile holds the webhook secret; "" takes GATE_WEBHOOK_SECRET.
	SecretFile string
	// CacheRoot holds repos/, render/, charts and gate.db; "" is the user
	// cache directory + /gate.
	CacheRoot     string
	NoRenderCache bool
	// Isolate renders in worker processes; nil renders in the server.
	Isolate    render.Isolator
	CacheSalt  string
	Stages     Stages
	Limits     Limits
	ConfigPath string
	Logger     *slog.Logger
}

// ServeConfig completes cfg, the App's settings from flags, with the
// private key, the webhook secret, the caches under the cache root and
// the runner (AppRunner). It returns the render cache's directory ("" with
// NoRenderCache), which the server prunes.
func ServeConfig(cfg app.Config, s Serve) (app.Config, string, error) {
	if s.PrivateKeyFile == "" {
		return cfg, "", errors.New("--private-key-file (or GATE_PRIVATE_KEY_FILE) is required")
	}
	key, err := os.ReadFile(s.PrivateKeyFile)
	if err != nil {
		return cfg, "", fmt.Errorf("read the App private key: %w", err)
	}
	cfg.PrivateKey = key
	secret := os.Getenv("GATE_WEBHOOK_SECRET")
	if s.SecretFile != "" {
		b, err := os.ReadFile(s.SecretFile)
		if err != nil {
			return cfg, "", fmt.Errorf("read the webhook secret: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	}
	if secret == "" {
		return cfg, "", errors.New("a webhook secret is required: --webhook-secret-file or GATE_WEBHOOK_SECRET")
	}
	cfg.WebhookSecret = secret
	root := s.CacheRoot
	if root == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		root = filepath.Join(dir, "gate")
	}
	cfg.CacheDir = filepath.Join(root, "repos")
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = "sqlite://" + filepath.Join(root, "gate.db")
	}
	// Charts not in the repos: pulled before each run from the base's
	// references (pullCharts), rendered from <root>/charts.
	ropts := render.Options{Logger: s.Logger, Charts: charts.Open(root), Isolate: s.Isolate}
	renderDir := ""
	if !s.NoRenderCache {
		renderDir = filepath.Join(root, "render")
		c, err := render.OpenCache(renderDir, s.CacheSalt)
		if err != nil {
			return cfg, "", err
		}
		ropts.Cache = c
	}
	cfg.Runner = AppRunner(s.Stages, s.Limits, ropts, s.ConfigPath)
	return cfg, renderDir, nil
}
