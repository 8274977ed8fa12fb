// Package cluster is the client-go side of the live comparison: it
// implements checks/live.Cluster with the dynamic client and a
// discovery-backed RESTMapper. It only ever reads (get, list, discovery)
// and dry-runs: every apply carries dryRun=All, so nothing in a cluster
// changes. The access it needs is documented in rbac.yaml.
package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gate-ops/gate/checks"
	"github.com/gate-ops/gate/checks/live"
)

// RBAC is rbac.yaml: the ClusterRoles documenting the access gate needs.
//
//go:embed rbac.yaml
var RBAC []byte

// DefaultRequestTimeout bounds one API request.
const DefaultRequestTimeout = 20 * time.Second

// Client talks to one cluster.
type Client struct {
	server string
	dyn    dynamic.Interface
	disc   discovery.DiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// refreshMu makes a cache miss refresh discovery once, not once per object.
	refreshMu sync.Mutex
	refreshed bool
}

var _ live.Cluster = (*Client)(nil)

// Config loads a rest.Config from a kubeconfig path (empty: the default
// loading rules, KUBECONFIG and ~/.kube/config) and context (empty: the
// current one). It never execs credential plugins from the ops repo: the
// kubeconfig is the operator's, passed on the command line or in the
// trusted gate.yaml.
func Config(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		name := context
		if name == "" {
			name = "current context"
		}
		return nil, fmt.Errorf("load kubeconfig (%s): %w", name, err)
	}
	return cfg, nil
}

// New returns a Client for cfg. requestTimeout bounds each API request
// (0 means DefaultRequestTimeout), so a cluster that accepts connections
// but never answers cannot hang a run.
func New(cfg *rest.Config, requestTimeout time.Duration) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	cfg.Timeout = requestTimeout
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	cfg.UserAgent = "gate"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for %s: %w", cfg.Host, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client for %s: %w", cfg.Host, err)
	}
	return &Client{
		server: cfg.Host,
		dyn:    dyn,
		disc:   disc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
	}, nil
}

// Server is the API server address.
func (c *Client) Server() string { return c.server }

// Ping asks the server for its version.
func (c *Client) Ping(ctx context.Context) error {
	type res struct{ err error }
	done := make(chan res, 1)
	go func() {
		// The discovery client takes no context; cfg.Timeout bounds it and
		// ctx bounds the wait.
		_, err := c.disc.ServerVersion()
		done <- res{err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return &live.UnreachableError{Server: c.server, Err: cleanErr(r.err)}
		}
		return nil
	case <-ctx.Done():
		return &live.UnreachableError{Server: c.server, Err: fmt.Errorf("no answer: %w", ctx.Err())}
	}
}

// mapping resolves a kind to its resource, refreshing discovery once when
// the kind is unknown (a CRD installed since the cache filled).
func (c *Client) mapping(id checks.ResourceID) (*meta.RESTMapping, error) {
	gk := schema.GroupKind{Group: id.Group, Kind: id.Kind}
	m, err := c.mapper.RESTMapping(gk, id.Version)
	if err == nil {
		return m, nil
	}
	if !meta.IsNoMatchError(err) {
		return nil, c.wrap(err)
	}
	c.refreshMu.Lock()
	if !c.refreshed {
		c.mapper.Reset()
		c.refreshed = true
	}
	c.refreshMu.Unlock()
	m, err = c.mapper.RESTMapping(gk, id.Version)
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("%s %s: %w", id.APIVersion(), id.Kind, live.ErrUnknownKind)
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	return m, nil
}

// Namespaced implements live.Cluster.
func (c *Client) Namespaced(_ context.Context, id checks.ResourceID) (bool, error) {
	m, err := c.mapping(id)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func (c *Client) resource(id checks.ResourceID) (dynamic.ResourceInterface, error) {
	m, err := c.mapping(id)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(id.Namespace), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// Get implements live.Cluster.
func (c *Client) Get(ctx context.Context, id checks.ResourceID) (map[string]any, error) {
	ri, err := c.resource(id)
	if err != nil {
		return nil, err
	}
	u, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, live.ErrNotFound
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	return u.Object, nil
}

// List implements live.Cluster.
func (c *Client) List(ctx context.Context, id checks.ResourceID, selector string) ([]map[string]any, error) {
	m, err := c.mapping(id)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = c.dyn.Resource(m.Resource)
	if id.Namespace != "" && m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = c.dyn.Resource(m.Resource).Namespace(id.Namespace)
	}
	var out []map[string]any
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 500}
	for {
		l, err := ri.List(ctx, opts)
		if err != nil {
			return nil, c.wrap(err)
		}
		for i := range l.Items {
			out = append(out, l.Items[i].Object)
		}
		if l.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = l.GetContinue()
	}
}

// DryRunApply implements live.Cluster: server-side apply, field manager
// "gate", force (gate takes the fields it sets, as a sync would), dryRun=All.
func (c *Client) DryRunApply(ctx context.Context, obj map[string]any) (map[string]any, error) {
	u := &unstructured.Unstructured{Object: obj}
	gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
	if err != nil {
		return nil, fmt.Errorf("apiVersion %q: %w", u.GetAPIVersion(), err)
	}
	id := checks.ResourceID{Group: gv.Group, Version: gv.Version, Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	ri, err := c.resource(id)
	if err != nil {
		return nil, err
	}
	out, err := ri.Apply(ctx, id.Name, u, metav1.ApplyOptions{FieldManager: live.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, c.rejection(err, id)
	}
	return out.Object, nil
}

var rbacDeniedRe = regexp.MustCompile(`cannot (patch|create) resource`)

// rejection translates a refused apply into a live.RejectedError.
func (c *Client) rejection(err error, id checks.ResourceID) error {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return c.wrap(err)
	}
	st := se.Status()
	rej := &live.RejectedError{Reason: string(st.Reason), Message: st.Message}
	if st.Details != nil {
		for _, cause := range st.Details.Causes {
			if cause.Field != "" {
				rej.Fields = append(rej.Fields, cause.Field)
			}
		}
	}
	switch {
	case apierrors.IsNotFound(err) && st.Details != nil && st.Details.Kind == "namespaces":
		rej.MissingNamespace = st.Details.Name
	case apierrors.IsNotFound(err) && id.Namespace != "" && strings.Contains(st.Message, `namespaces "`+id.Namespace+`" not found`):
		rej.MissingNamespace = id.Namespace
	case apierrors.IsForbidden(err) && rbacDeniedRe.MatchString(st.Message):
		rej.NotPermitted = true
	case apierrors.IsUnauthorized(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err):
		return c.wrap(err)
	}
	return rej
}

// wrap marks transport failures as unreachable so the live check reports
// them as such.
func (c *Client) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || apierrors.IsUnauthorized(err) {
		return &live.UnreachableError{Server: c.server, Err: cleanErr(err)}
	}
	return err
}

// cleanErr drops the noisy URL wrapping client-go adds.
func cleanErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}
