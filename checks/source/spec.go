package source

// Spec says how to open a source again from another process: the render
// sandbox re-opens the revision it is asked to render instead of receiving
// its files, so a hostile change is read by a process that can be killed.
type Spec struct {
	// Kind is "dir" (a work tree), "git" (a commit's tree) or "index" (the
	// staged index of a git repository).
	Kind string `json:"kind"`
	// Path is the directory, or the git directory (or bare repository).
	Path string `json:"path"`
	// Commit is the commit hash of a "git" source.
	Commit string `json:"commit,omitempty"`
	// Prefix is the ops repo's directory inside a git repository.
	Prefix string `json:"prefix,omitempty"`
	// MaxFileSize is the source's file size limit.
	MaxFileSize int64 `json:"maxFileSize"`
}

// Reopener is implemented by sources another process can open by Spec.
// Sources that cannot (in-memory ones) render in process.
type Reopener interface {
	Spec() (Spec, bool)
}

// Spec implements Reopener.
func (d *Dir) Spec() (Spec, bool) {
	return Spec{Kind: "dir", Path: d.abs, MaxFileSize: d.maxSize}, true
}
