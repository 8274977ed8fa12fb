package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the pure-Go SQLite behind the embedded default
)

// store is the App's database: River's job queue and gate's own tables,
// the latest head of every pull request (what supersedes what, across
// replicas), the full reports behind Details and the rate-limit budget of
// every installation. One SQLite file under the cache directory when gate
// runs alone; Postgres when replicas share the work.
type store struct {
	dialect string // "sqlite" or "postgres"
	// db runs gate's own statements (for Postgres: over the pgx pool).
	db   *sql.DB
	pool *pgxpool.Pool
	q    queueClient
	log  *slog.Logger
}

// queueClient is the River client whichever its driver's transaction type.
type queueClient interface {
	// insert runs pre and, when it says so, inserts args in one
	// transaction: the job exists once insert returns without error. When
	// the job is new (not a duplicate), post runs before the commit (an
	// error rolls the transaction back), while
	// the transaction holds the pull request's row: no other delivery of
	// it gets past pre until the commit.
	insert(ctx context.Context, args checkArgs, opts *river.InsertOpts, pre func(context.Context, execer) (bool, error), post func(context.Context) error) (inserted, duplicate bool, err error)
	start(ctx context.Context) error
	stop(ctx context.Context) error
	stopAndCancel(ctx context.Context) error
}

// execer runs one statement inside insert's transaction.
type execer interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
}

type riverClient[TTx any] struct {
	c        *river.Client[TTx]
	begin    func(ctx context.Context) (TTx, execer, error)
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx)
}

func (r *riverClient[TTx]) insert(ctx context.Context, args checkArgs, opts *river.InsertOpts, pre func(context.Context, execer) (bool, error), post func(context.Context) error) (bool, bool, error) {
	tx, ex, err := r.begin(ctx)
	if err != nil {
		return false, false, fmt.Errorf("begin: %w", err)
	}
	defer r.rollback(ctx, tx)
	if pre != nil {
		ok, err := pre(ctx, ex)
		if err != nil || !ok {
			return false, false, err
		}
	}
	res, err := r.c.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return false, false, fmt.Errorf("insert the job: %w", err)
	}
	if post != nil && !res.UniqueSkippedAsDuplicate {
		if err := post(ctx); err != nil {
			return false, false, fmt.Errorf("commit the job: %w", err)
		}
	}
	if err := r.commit(ctx, tx); err != nil {
		return false, false, fmt.Errorf("commit the job: %w", err)
	}
	return !res.UniqueSkippedAsDuplicate, res.UniqueSkippedAsDuplicate, nil
}

func (r *riverClient[TTx]) start(ctx context.Context) error { return r.c.Start(ctx) }
func (r *riverClient[TTx]) stop(ctx context.Context) error  { return r.c.Stop(ctx) }
func (r *riverClient[TTx]) stopAndCancel(ctx context.Context) error {
	return r.c.StopAndCancel(ctx)
}

type sqlExec struct{ tx *sql.Tx }

func (e sqlExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := e.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type pgxExec struct{ tx pgx.Tx }

func (e pgxExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := e.tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// queueOptions are the River settings the App derives from its Config.
type queueOptions struct {
	workers      int
	jobTimeout   time.Duration
	rescueAfter  time.Duration
	pollInterval time.Duration
	worker       river.Worker[checkArgs]
	log          *slog.Logger
}

func (o queueOptions) riverConfig() *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, o.worker)
	return &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.workers}},
		Workers:              workers,
		JobTimeout:           o.jobTimeout,
		RescueStuckJobsAfter: o.rescueAfter,
		FetchPollInterval:    o.pollInterval,
		FetchCooldown:        min(o.pollInterval, 100*time.Millisecond),
		// Finished jobs are kept a day: a duplicate delivery of a head
		// already checked is recognised (unique by head) and not run again.
		CompletedJobRetentionPeriod: 24 * time.Hour,
		CancelledJobRetentionPeriod: 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		Logger:                      o.log.With("component", "river"),
	}
}

var postgresURL = regexp.MustCompile(`^postgres(ql)?://`)

// openStore opens (and migrates) the database: Postgres when databaseURL
// is a postgres:// URL, else SQLite at <cacheDir>/gate.db.
func openStore(ctx context.Context, databaseURL, cacheDir string, o queueOptions) (*store, error) {
	switch {
	case databaseURL == "":
		return openSQLite(ctx, filepath.Join(cacheDir, "gate.db"), o)
	case postgresURL.MatchString(databaseURL):
		return openPostgres(ctx, databaseURL, o)
	case strings.HasPrefix(databaseURL, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(databaseURL, "sqlite://"), o)
	}
	return nil, errors.New("--database-url must be a postgres:// URL (or sqlite:///path)")
}

func openSQLite(ctx context.Context, path string, o queueOptions) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the database directory: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// SQLite takes one writer at a time; River's documentation asks for
	// one connection.
	db.SetMaxOpenConns(1)
	s := &store{dialect: "sqlite", db: db, log: o.log}
	drv := riversqlite.New(db)
	if err := s.migrate(ctx, drv); err != nil {
		db.Close()
		return nil, err
	}
	// One process owns the file: a job still marked running was cut off
	// by this process's crash (an OOM kill). It runs again now rather than
	// after RescueAfter.
	if _, err := db.ExecContext(ctx, "UPDATE river_job SET state = 'available' WHERE state = 'running'"); err != nil {
		db.Close()
		return nil, fmt.Errorf("requeue the jobs a crash interrupted: %w", err)
	}
	c, err := river.NewClient(drv, o.riverConfig())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	s.q = &riverClient[*sql.Tx]{c: c,
		begin: func(ctx context.Context) (*sql.Tx, execer, error) {
			tx, err := db.BeginTx(ctx, nil)
			return tx, sqlExec{tx}, err
		},
		commit:   func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		rollback: func(_ context.Context, tx *sql.Tx) { _ = tx.Rollback() },
	}
	return s, nil
}

func openPostgres(ctx context.Context, url string, o queueOptions) (*store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	s := &store{dialect: "postgres", db: stdlib.OpenDBFromPool(pool), pool: pool, log: o.log}
	drv := riverpgxv5.New(pool)
	// Replicas start together: one migrates at a time.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	const lockID = 0x6761_7465 // "gate"
	_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID)
	if err == nil {
		err = s.migrate(ctx, drv)
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockID)
	}
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	c, err := river.NewClient(drv, o.riverConfig())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	s.q = &riverClient[pgx.Tx]{c: c,
		begin: func(ctx context.Context) (pgx.Tx, execer, error) {
			tx, err := pool.Begin(ctx)
			return tx, pgxExec{tx}, err
		},
		commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
		rollback: func(ctx context.Context, tx pgx.Tx) { _ = tx.Rollback(context.WithoutCancel(ctx)) },
	}
	return s, nil
}

// gate's tables. Times are Unix milliseconds, the same in both dialects.
const schema = `
CREATE TABLE IF NOT EXISTS gate_heads (
	pr_key     TEXT PRIMARY KEY,
	head       TEXT NOT NULL,
	event_ms   BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS gate_reports (
	key        TEXT PRIMARY KEY,
	body       %s NOT NULL,
	size       BIGINT NOT NULL,
	created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS gate_reports_created ON gate_reports (created_ms);
CREATE TABLE IF NOT EXISTS gate_limits (
	installation BIGINT PRIMARY KEY,
	until_ms     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS gate_envs (
	repo       TEXT PRIMARY KEY,
	names      TEXT NOT NULL,
	updated_ms BIGINT NOT NULL
);`

func (s *store) migrate(ctx context.Context, drv any) error {
	var err error
	switch d := drv.(type) {
	case riverdriver.Driver[*sql.Tx]:
		err = migrateRiver(ctx, d)
	case riverdriver.Driver[pgx.Tx]:
		err = migrateRiver(ctx, d)
	}
	if err != nil {
		return fmt.Errorf("migrate the queue's tables: %w", err)
	}
	blob := "BLOB"
	if s.dialect == "postgres" {
		blob = "BYTEA"
	}
	for _, stmt := range strings.Split(fmt.Sprintf(schema, blob), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create gate's tables: %w", err)
		}
	}
	return nil
}

func migrateRiver[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// rebind turns $1 placeholders into SQLite's ?1.
func (s *store) rebind(q string) string {
	if s.dialect == "postgres" {
		return q
	}
	return strings.ReplaceAll(q, "$", "?")
}

// upsertHead records head as the pull request's latest unless a delivery
// of a later push already did (eventMS 0: no order, always latest). It
// reports whether head is now the latest.
const upsertHead = `INSERT INTO gate_heads (pr_key, head, event_ms, updated_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (pr_key) DO UPDATE SET head = excluded.head, updated_ms = excluded.updated_ms,
	event_ms = CASE WHEN excluded.event_ms > gate_heads.event_ms THEN excluded.event_ms ELSE gate_heads.event_ms END
WHERE excluded.event_ms = 0 OR excluded.event_ms >= gate_heads.event_ms`

// latestHead returns the pull request's latest head ("" when closed or unknown).
func (s *store) latestHead(ctx context.Context, key string) (string, bool, error) {
	var head string
	err := s.db.QueryRowContext(ctx, s.rebind("SELECT head FROM gate_heads WHERE pr_key = $1"), key).Scan(&head)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the latest head of %s: %w", key, err)
	}
	return head, true, nil
}

// closePR marks a pull request closed: its runs stop.
func (s *store) closePR(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(upsertHead), key, "", 0, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record that %s closed: %w", key, err)
	}
	return nil
}

// active counts jobs not finished (waiting, running, to be retried).
func (s *store) active(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')").Scan(&n)
	return n, err
}

// putReport stores a full report (gzip) for Details.
func (s *store) putReport(ctx context.Context, key, body string) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, body)
	if err := zw.Close(); err != nil {
		return err
	}
	q := `INSERT INTO gate_reports (key, body, size, created_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO UPDATE SET body = excluded.body, size = excluded.size, created_ms = excluded.created_ms`
	if _, err := s.db.ExecContext(ctx, s.rebind(q), key, buf.Bytes(), buf.Len(), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store the report %s: %w", key, err)
	}
	return nil
}

// getReport reads a stored report.
func (s *store) getReport(ctx context.Context, key string) (string, bool, error) {
	var z []byte
	err := s.db.QueryRowContext(ctx, s.rebind("SELECT body FROM gate_reports WHERE key = $1"), key).Scan(&z)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the report %s: %w", key, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return "", false, fmt.Errorf("read the report %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return "", false, fmt.Errorf("read the report %s: %w", key, err)
	}
	return string(b), true, nil
}

// prune drops reports older than maxAge, then the oldest until the
// compressed total fits maxBytes, and heads of pull requests not seen
// for maxAge.
func (s *store) prune(ctx context.Context, maxAge time.Duration, maxBytes int64) error {
	cutoff := time.Now().Add(-maxAge).UnixMilli()
	if _, err := s.db.ExecContext(ctx, s.rebind("DELETE FROM gate_reports WHERE created_ms < $1"), cutoff); err != nil {
		return fmt.Errorf("expire reports: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.rebind("DELETE FROM gate_heads WHERE updated_ms < $1"), cutoff); err != nil {
		return fmt.Errorf("expire heads: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.rebind("DELETE FROM gate_envs WHERE updated_ms < $1"), cutoff); err != nil {
		return fmt.Errorf("expire environment lists: %w", err)
	}
	var total int64
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(size), 0) FROM gate_reports").Scan(&total); err != nil {
		return fmt.Errorf("size the reports: %w", err)
	}
	if total <= maxBytes {
		return nil
	}
	// Walk from the newest, keep what fits, drop the rest.
	rows, err := s.db.QueryContext(ctx, "SELECT created_ms, size FROM gate_reports ORDER BY created_ms DESC")
	if err != nil {
		return fmt.Errorf("size the reports: %w", err)
	}
	var sum, keepFrom int64
	for rows.Next() {
		var at, size int64
		if err := rows.Scan(&at, &size); err != nil {
			rows.Close()
			return err
		}
		sum += size
		if sum > maxBytes {
			keepFrom = at + 1
			break
		}
	}
	rows.Close()
	if keepFrom > 0 {
		if _, err := s.db.ExecContext(ctx, s.rebind("DELETE FROM gate_reports WHERE created_ms < $1"), keepFrom); err != nil {
			return fmt.Errorf("bound the reports: %w", err)
		}
	}
	return nil
}

// limitUntil returns when the installation's secondary rate limit ends
// (zero: none known).
func (s *store) limitUntil(ctx context.Context, inst int64) (time.Time, error) {
	var ms int64
	err := s.db.QueryRowContext(ctx, s.rebind("SELECT until_ms FROM gate_limits WHERE installation = $1"), inst).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// limit records that GitHub asked the installation to wait until until;
// every worker of every replica waits with it.
func (s *store) limit(ctx context.Context, inst int64, until time.Time) error {
	q := `INSERT INTO gate_limits (installation, until_ms) VALUES ($1, $2)
ON CONFLICT (installation) DO UPDATE SET until_ms = CASE WHEN excluded.until_ms > gate_limits.until_ms THEN excluded.until_ms ELSE gate_limits.until_ms END`
	_, err := s.db.ExecContext(ctx, s.rebind(q), inst, until.UnixMilli())
	return err
}

// envNames returns the environments of the repository's last plan (nil:
// never planned), newline-separated in the table.
func (s *store) envNames(ctx context.Context, repo string) ([]string, error) {
	var names string
	err := s.db.QueryRowContext(ctx, s.rebind("SELECT names FROM gate_envs WHERE repo = $1"), repo).Scan(&names)
	if errors.Is(err, sql.ErrNoRows) || err == nil && names == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the environments of %s: %w", repo, err)
	}
	return strings.Split(names, "\n"), nil
}

// putEnvNames records the environments of the repository's last plan.
func (s *store) putEnvNames(ctx context.Context, repo string, names []string) error {
	q := `INSERT INTO gate_envs (repo, names, updated_ms) VALUES ($1, $2, $3)
ON CONFLICT (repo) DO UPDATE SET names = excluded.names, updated_ms = excluded.updated_ms`
	if _, err := s.db.ExecContext(ctx, s.rebind(q), repo, strings.Join(names, "\n"), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("record the environments of %s: %w", repo, err)
	}
	return nil
}

func (s *store) close() {
	s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
}

// reset empties the queue and gate's tables (tests).
func (s *store) reset(ctx context.Context) error {
	for _, t := range []string{"river_job", "gate_heads", "gate_reports", "gate_limits", "gate_envs"} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return err
		}
	}
	return nil
}

// counts returns the jobs waiting, the jobs running and the heads known
// (tests).
func (s *store) counts(ctx context.Context) (pending, running, heads int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
	(SELECT count(*) FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'scheduled')),
	(SELECT count(*) FROM river_job WHERE state = 'running'),
	(SELECT count(*) FROM gate_heads)`).Scan(&pending, &running, &heads)
	return pending, running, heads, err
}
