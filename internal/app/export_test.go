package app

// FailCommits makes the commit of every new job fail with f's error (nil
// f: commit) after its check runs were created queued: what a database
// that stops answering mid-transaction does.
func FailCommits(a *App, f func() error) {
	if f == nil {
		a.commitFault.Store(nil)
		return
	}
	a.commitFault.Store(&f)
}

// ForgetRateLimits drops what the replica knows of the rate-limit budgets,
// so the next GitHub request of each installation reads the database.
func ForgetRateLimits(a *App) {
	g := a.forge.(*githubForge)
	g.limits.mu.Lock()
	defer g.limits.mu.Unlock()
	clear(g.limits.m)
}
