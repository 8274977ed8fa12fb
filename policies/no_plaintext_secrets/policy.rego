# METADATA
# title: No plaintext Secrets in Git
# description: |
#   A Secret with data or stringData in the ops repo is a credential in Git
#   history, readable by everyone who can clone the repo, forever. Commit a
#   SealedSecret, an ExternalSecret or a SOPS-encrypted file instead.
# related_resources:
#   - ref: https://github.com/gate-ops/gate/blob/main/policies/README.md#no-plaintext-secrets
# custom:
#   id: no-plaintext-secrets
#   severity: warning
#   strictSeverity: error
package gate.builtin.no_plaintext_secrets

deny contains {"msg": msg, "path": [field]} if {
	input.kind == "Secret"
	input.apiVersion == "v1"
	some field in ["data", "stringData"]
	values := object.get(input, field, {})
	is_object(values)
	count(values) > 0
	keys := sort([k | some k, _ in values])
	msg := sprintf("Secret carries %s in plain text (keys: %s); commit a SealedSecret or an ExternalSecret instead", [field, concat(", ", keys)])
}
