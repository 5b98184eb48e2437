// Package doccheck tests the documentation: every relative link and #anchor
// in README.md and docs/*.md points at a file and a heading that exist, and
// every page in docs/ is reachable from the README, so that moving a section
// cannot leave a link dangling.
//
// It has no code, only tests, and needs no service: go test ./test/doccheck/.
package doccheck
