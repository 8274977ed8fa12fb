package config

// PolicyInputs are the repo paths the policy stage reads as gate.yaml
// configures it: the policy directories (the conventional policy/ and
// policies/ and policies.paths) and policies.data.
func (c *Config) PolicyInputs() []string {
	out := []string{"policy", "policies"}
	if c == nil {
		return out
	}
	out = append(out, c.Policies.Paths...)
	return append(out, c.Policies.Data...)
}

// SchemaInputs are the repo paths the schema stage reads: schemas.paths.
func (c *Config) SchemaInputs() []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.Schemas.Paths...)
}
