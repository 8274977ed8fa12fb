package pgtest

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A started server takes writes in a fresh database, and Stop ends the
// process and removes its directory.
func TestStartStop(t *testing.T) {
	s := StartTB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.CreateDB(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('gate')"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := c.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "gate" {
		t.Fatalf("read back %q, %v", v, err)
	}
	c.Close(ctx)
	if os.Geteuid() == 0 {
		var st syscall.Stat_t
		if err := syscall.Stat(s.Dir+"/data", &st); err != nil || st.Uid == 0 {
			t.Fatalf("data directory owned by uid %d (%v); PostgreSQL must not run as root", st.Uid, err)
		}
	}
	pid := s.cmd.Process.Pid
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("postgres still running after Stop")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still exists after Stop", pid)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("%s left behind: %v", s.Dir, err)
	}
}
