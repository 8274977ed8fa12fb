package schema

// Inputs are the repo paths the stage reads besides an environment's
// rendering (engine.Inputs): schemas.paths, whose CRDs and JSON schemas
// judge every environment.
func (s *Stage) Inputs() []string { return append([]string(nil), s.paths...) }
