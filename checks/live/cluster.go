package live

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gate-ops/gate/checks"
)

// FieldManager is the server-side apply field manager of gate's dry runs.
const FieldManager = "gate"

// Cluster is what the live check needs from a Kubernetes API server. The
// client-go implementation lives in internal/cluster; keeping the interface
// here keeps the comparison logic free of client details. Every call is
// read-only on the cluster: DryRunApply always sends dryRun=All.
type Cluster interface {
	// Ping checks that the server answers. It returns an *UnreachableError
	// when it does not.
	Ping(ctx context.Context) error
	// Namespaced reports whether a kind is namespaced. It returns
	// ErrUnknownKind when the server does not serve the group/version/kind.
	Namespaced(ctx context.Context, id checks.ResourceID) (bool, error)
	// Get returns the live object, or ErrNotFound.
	Get(ctx context.Context, id checks.ResourceID) (map[string]any, error)
	// DryRunApply server-side applies obj with field manager "gate", force
	// and dryRun=All, and returns the object the server would store. A
	// refusal is a *RejectedError.
	DryRunApply(ctx context.Context, obj map[string]any) (map[string]any, error)
	// List returns the live objects of one kind (group, version and kind
	// of id) that match a label selector (may be empty), in every
	// namespace, or only in id.Namespace when it is set.
	List(ctx context.Context, id checks.ResourceID, selector string) ([]map[string]any, error)
}

// ErrNotFound is returned by Get for an object that does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnknownKind is returned when the server does not serve a kind.
var ErrUnknownKind = errors.New("kind not served by the cluster")

// UnreachableError says the cluster could not be reached (DNS, connection
// refused, TLS, timeout, authentication).
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cluster %s unreachable: %v", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// RejectedError is the API server refusing a dry run: validation, an
// immutable field, an admission webhook, a missing namespace or RBAC.
type RejectedError struct {
	// Reason is the API status reason (Invalid, Forbidden, NotFound, ...).
	Reason string
	// Message is the server's message.
	Message string
	// Fields are the field paths the server blamed, as it writes them
	// ("spec.selector", "spec.template.spec.containers[0].image").
	Fields []string
	// MissingNamespace is set when the object's namespace does not exist.
	MissingNamespace string
	// NotPermitted is set when RBAC does not allow the dry run (it needs
	// patch and create, which the read-only role does not grant).
	NotPermitted bool
}

func (e *RejectedError) Error() string {
	if e.Reason == "" {
		return e.Message
	}
	return e.Reason + ": " + e.Message
}

// SplitFieldPath turns a server field path ("spec.containers[0].image",
// "metadata.labels[app.kubernetes.io/name]") into the segments a
// checks.Locator takes.
func SplitFieldPath(p string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				cur.WriteString(p[i+1:])
				i = len(p)
				continue
			}
			out = append(out, strings.Trim(p[i+1:i+j], `"'`))
			i += j
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
