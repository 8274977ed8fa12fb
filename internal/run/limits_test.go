package run

import (
	"strings"
	"testing"
	"time"

	"github.com/gate-ops/gate/checks/config"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"4GiB": 4 << 30, "512MiB": 512 << 20, "1.5G": 3 << 29, "1000000": 1e6, "2GB": 2e9, "0": 0, " 64 MiB ": 64 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "1e30GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}

func TestLimitsResolve(t *testing.T) {
	cfg := &config.Config{Limits: config.Limits{MaxDocuments: 7, MaxYAMLDepth: 9, RenderTimeout: "5s", PolicyTimeout: "3s", RunTimeout: "1m", MemoryLimit: "1GiB"}}
	got, err := (Limits{}).Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Render.MaxDocuments != 7 || got.Render.MaxDepth != 9 || got.Render.MaxNodes != 2_000_000 || got.RenderTimeout != 5*time.Second ||
		got.PolicyTimeout != 3*time.Second || got.RunTimeout != time.Minute || got.Memory != 1<<30 {
		t.Errorf("gate.yaml limits not applied: %+v", got)
	}
	got, err = (Limits{MaxDocuments: 70, RenderTimeout: time.Second, Timeout: time.Hour, MemoryLimit: "0"}).Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Render.MaxDocuments != 70 || got.RenderTimeout != time.Second || got.RunTimeout != time.Hour || got.Memory != 0 {
		t.Errorf("flags do not win over gate.yaml: %+v", got)
	}
	got, _ = (Limits{}).Resolve(nil)
	if got.RunTimeout != DefaultRunTimeout || got.Memory != DefaultMemoryLimit || got.Render.MaxDocuments != 10000 {
		t.Errorf("defaults: %+v", got)
	}
	_, err = (Limits{}).Resolve(&config.Config{Limits: config.Limits{RunTimeout: "soon", MemoryLimit: "lots"}})
	if err == nil || !strings.Contains(err.Error(), "limits.runTimeout") || !strings.Contains(err.Error(), "limits.memoryLimit") {
		t.Errorf("bad gate.yaml limits: %v", err)
	}
}
