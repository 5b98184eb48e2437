package doccheck

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/sisporta/sisporta/test/testenv"
)

// page is one Markdown file: its links and the anchors its headings make.
type page struct {
	links   []link
	anchors map[string]bool
}

type link struct {
	line   int
	target string
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	heading    = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	inlineCode = regexp.MustCompile("`+[^`]*`+")
	// [text](target) and ![alt](target); the target ends at the first
	// space (a title may follow) or closing parenthesis.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)`)
	// [label]: target reference definitions.
	refDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(\s|$)`)
	// <a id="x"> or <a name="x"> anchors written by hand.
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// slug is the anchor GitHub gives a heading: lower-case, punctuation other
// than '-' and '_' dropped, each space a '-'.
func slug(text string) string {
	text = mdLinkText.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func parse(t *testing.T, file string) page {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := page{anchors: map[string]bool{}}
	seen := map[string]int{}
	inFence := false
	for i, line := range strings.Split(string(b), "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := slug(m[2])
			if n := seen[s]; n > 0 {
				p.anchors[fmt.Sprintf("%s-%d", s, n)] = true
			} else {
				p.anchors[s] = true
			}
			seen[s]++
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			p.anchors[m[1]] = true
		}
		text := inlineCode.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			p.links = append(p.links, link{i + 1, m[1]})
		}
		if m := refDef.FindStringSubmatch(text); m != nil {
			p.links = append(p.links, link{i + 1, m[1]})
		}
	}
	return p
}

// docs returns README.md and docs/*.md, relative to the repository root.
func docs(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestLinksResolve: every relative link in README.md and docs/*.md names a
// file or folder of the repository, and every #anchor a heading (or an
// <a id>) of the Markdown file it points into.
func TestLinksResolve(t *testing.T) {
	root := repoRoot(t)
	pages := map[string]page{}
	load := func(rel string) page {
		if p, ok := pages[rel]; ok {
			return p
		}
		p := parse(t, filepath.Join(root, filepath.FromSlash(rel)))
		pages[rel] = p
		return p
	}
	checked := 0
	for _, file := range docs(t, root) {
		for _, l := range load(file).links {
			u, err := url.Parse(l.target)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", file, l.line, l.target, err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue // an outside address: not checked here
			}
			checked++
			target := file
			if u.Path != "" {
				target = path.Clean(path.Join(path.Dir(file), u.Path))
				if strings.HasPrefix(target, "../") || target == ".." {
					t.Errorf("%s:%d: link %q leaves the repository", file, l.line, l.target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
					t.Errorf("%s:%d: link %q: no file %s", file, l.line, l.target, target)
					continue
				}
			}
			if u.Fragment == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				t.Errorf("%s:%d: link %q: an anchor into %s, which is not Markdown", file, l.line, l.target, target)
				continue
			}
			if !load(target).anchors[u.Fragment] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", file, l.line, l.target, target, u.Fragment)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d relative links were found: is the link parser broken?", checked)
	}
}

// TestDocsReachableFromReadme: each page in docs/ can be reached from the
// README by following links, so none is written and then lost.
func TestDocsReachableFromReadme(t *testing.T) {
	root := repoRoot(t)
	reached := map[string]bool{"README.md": true}
	queue := []string{"README.md"}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		for _, l := range parse(t, filepath.Join(root, filepath.FromSlash(file))).links {
			u, err := url.Parse(l.target)
			if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasSuffix(u.Path, ".md") {
				continue
			}
			target := path.Clean(path.Join(path.Dir(file), u.Path))
			if !reached[target] {
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err == nil {
					reached[target] = true
					queue = append(queue, target)
				}
			}
		}
	}
	for _, file := range docs(t, root) {
		if !reached[file] {
			t.Errorf("%s: no chain of links leads to it from README.md", file)
		}
	}
}

// TestSlug pins the anchor rule on headings of these docs.
func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Container image and CI/CD":           "container-image-and-cicd",
		"Type map (SQL Server → MySQL)":       "type-map-sql-server--mysql",
		"Range digests: what a re-sync reads": "range-digests-what-a-re-sync-reads",
		"sync.sisporta.io/v1alpha1":           "syncsisportaiov1alpha1",
		"Without Helm, or moving to it":       "without-helm-or-moving-to-it",
		"The manager's flags":                 "the-managers-flags",
		"The `sisporta` commands":             "the-sisporta-commands",
		"See [Status](operations.md#status)":  "see-status",
		"_sisporta_runs":                      "_sisporta_runs",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
