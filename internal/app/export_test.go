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
