package policy

// Inputs are the repo paths the stage reads besides an environment's
// rendering (engine.Inputs): a change under one affects every environment.
func (s *Stage) Inputs() []string { return s.cfg.PolicyInputs() }
