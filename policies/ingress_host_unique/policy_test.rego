package gate.builtin.ingress_host_unique_test

import data.gate.builtin.ingress_host_unique.deny

ing(ns, name, hosts) := {"kind": "Ingress", "metadata": {"name": name, "namespace": ns}, "spec": {"rules": [{"host": h} | some h in hosts]}}

test_duplicate_host_denied_on_both if {
	findings := deny with input as {"resources": [ing("a", "one", ["shop.example.com"]), ing("b", "two", ["api.example.com", "shop.example.com"])]}
	count(findings) == 2
	some f in findings
	f.resource == 1
	f.path == ["spec", "rules", 1, "host"]
	f.msg == `host "shop.example.com" is also claimed by Ingress a/one`
}

test_unique_hosts_allowed if {
	count(deny) == 0 with input as {"resources": [ing("a", "one", ["shop.example.com"]), ing("a", "two", ["api.example.com"])]}
}

test_same_ingress_twice_allowed if {
	count(deny) == 0 with input as {"resources": [ing("a", "one", ["shop.example.com", "shop.example.com"])]}
}
