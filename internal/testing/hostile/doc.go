// Package hostile holds the guards gate's hostile-input tests run under: a
// tracing Source that records every file the engine asks for, a network
// guard that records any connection, DNS lookup or program gate tries to
// reach, and a watch on files planted outside the repo that records any
// open. The table-driven test beside it runs every case of
// testdata/hostile through the engine, every report format and the App's
// webhook handler under these guards.
package hostile
