package gate.builtin.no_plaintext_secrets_test

import data.gate.builtin.no_plaintext_secrets.deny

test_data_denied_without_values if {
	some f in deny with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
	f.path == ["data"]
	contains(f.msg, "keys: password")
	not contains(f.msg, "aHVudGVyMg==")
}

test_string_data_denied if {
	some f in deny with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"token": "x"}}
	f.path == ["stringData"]
}

test_empty_secret_allowed if {
	count(deny) == 0 with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sa-token"}, "type": "kubernetes.io/service-account-token"}
}

test_sealed_secret_allowed if {
	count(deny) == 0 with input as {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "db"}, "spec": {"encryptedData": {"password": "AgBy"}}}
}
