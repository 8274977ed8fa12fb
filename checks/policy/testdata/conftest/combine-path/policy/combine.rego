package main

import rego.v1

# Every object name once across all files.
deny contains msg if {
	some i, j
	input[i].contents.metadata.name == input[j].contents.metadata.name
	i < j
	msg := sprintf("%s is defined twice (%s and %s)", [input[i].contents.metadata.name, input[i].path, input[j].path])
}

# Every member of a team is a user declared somewhere.
deny contains msg if {
	some t in input
	t.contents.kind == "Team"
	some member in t.contents.spec.members
	not user(member)
	msg := sprintf("team %s names %s, who is not a user", [t.contents.metadata.name, member])
}

user(email) if {
	some u in input
	u.contents.kind == "User"
	u.contents.spec.email == email
}

# Users live in files under in/users.
deny contains msg if {
	some u in input
	u.contents.kind == "User"
	not startswith(u.path, "in/users")
	msg := sprintf("user %s is declared in %s, outside in/users*", [u.contents.metadata.name, u.path])
}
