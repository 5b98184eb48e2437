package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// `make image` writes the image without Docker (hack/tools/cmd/imagebuild);
// the Dockerfile stays the release path. These tests build the archive as
// `make image` does and check it holds what the Dockerfile's image holds,
// so that the two cannot drift apart: the binary at the same path, static;
// the same user, entrypoint, command and labels; and what the distroless
// static nonroot base gives (CA certificates, zoneinfo, the nonroot user
// and its home, /tmp).

// dockerfilePromises is what the Dockerfile's runtime stage says its image
// is.
type dockerfilePromises struct {
	binary     string // where COPY puts the binary
	user       string
	entrypoint []string
	cmd        []string
	labels     map[string]string
}

func readDockerfilePromises(t *testing.T, version string) dockerfilePromises {
	t.Helper()
	ins := dockerInstructions(t)
	start := -1
	for i, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			start = i
		}
	}
	if start < 0 || !regexp.MustCompile(`^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot$`).MatchString(ins[start]) {
		t.Fatalf("the runtime stage is no longer distroless static nonroot; teach this test (and imagebuild) what its base gives: %v", ins)
	}
	p := dockerfilePromises{labels: map[string]string{}}
	args := map[string]string{}
	subst := func(s string) string {
		return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(m string) string {
			name := strings.Trim(m, "${}")
			if v, ok := args[name]; ok {
				return v
			}
			t.Fatalf("the Dockerfile uses %s, which this test does not know", m)
			return ""
		})
	}
	for _, in := range ins[start+1:] {
		word, rest, _ := strings.Cut(in, " ")
		switch word {
		case "ARG":
			name, _, _ := strings.Cut(rest, "=")
			if name != "VERSION" {
				t.Fatalf("the runtime stage takes ARG %s, which make image does not pass", name)
			}
			args[name] = version
		case "LABEL":
			for _, kv := range splitWords(t, rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("LABEL %q: want key=value", kv)
				}
				p.labels[k] = subst(v)
			}
		case "COPY":
			f := strings.Fields(rest)
			if len(f) != 3 || f[0] != "--from=build" || f[1] != "/out/sisporta" {
				t.Fatalf("COPY %s: the runtime stage should copy the one binary from the build stage", rest)
			}
			p.binary = f[2]
		case "USER":
			p.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &p.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: want the JSON form: %v", rest, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &p.cmd); err != nil {
				t.Fatalf("CMD %s: want the JSON form: %v", rest, err)
			}
		default:
			t.Fatalf("the runtime stage has %s, which make image does not reproduce: add it to the image target and to this test", word)
		}
	}
	if p.binary == "" || p.user == "" || len(p.entrypoint) == 0 {
		t.Fatalf("cannot find the binary, user or entrypoint in the Dockerfile: %+v", p)
	}
	return p
}

// splitWords splits LABEL's arguments: key=value words, values optionally
// in double quotes.
func splitWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted, have = !quoted, true
		case c == '\\' && quoted && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// imageArchive is a `docker save` archive read into memory.
type imageArchive struct {
	repoTags []string
	config   struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User       string            `json:"User"`
			Entrypoint []string          `json:"Entrypoint"`
			Cmd        []string          `json:"Cmd"`
			Env        []string          `json:"Env"`
			WorkingDir string            `json:"WorkingDir"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
	}
	configName string
	rawConfig  []byte
	files      map[string]*tar.Header // by absolute path, the top layer winning
	data       map[string][]byte
}

func readImageArchive(t *testing.T, path string) *imageArchive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not a tar archive: %v", path, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		blobs[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: want one image, got %s (%v)", blobs["manifest.json"], err)
	}
	a := &imageArchive{repoTags: manifest[0].RepoTags, configName: manifest[0].Config,
		files: map[string]*tar.Header{}, data: map[string][]byte{}}
	a.rawConfig = blobs[manifest[0].Config]
	if err := json.Unmarshal(blobs[manifest[0].Config], &a.config); err != nil {
		t.Fatalf("image config %s: %v", manifest[0].Config, err)
	}
	for _, l := range manifest[0].Layers {
		zr, err := gzip.NewReader(bytes.NewReader(blobs[l]))
		if err != nil {
			t.Fatalf("layer %s: %v", l, err)
		}
		lr := tar.NewReader(zr)
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			p := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			a.files[p] = h
			if h.Typeflag == tar.TypeReg {
				if a.data[p], err = io.ReadAll(lr); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return a
}

// read returns a file's content, following symbolic links in the image.
func (a *imageArchive) read(t *testing.T, p string) []byte {
	t.Helper()
	for range 10 {
		h := a.files[p]
		if h == nil {
			t.Errorf("no %s in the image", p)
			return nil
		}
		if h.Typeflag != tar.TypeSymlink {
			return a.data[p]
		}
		if strings.HasPrefix(h.Linkname, "/") {
			p = h.Linkname
		} else {
			p = filepath.Join(filepath.Dir(p), h.Linkname)
		}
	}
	t.Errorf("%s: too many symbolic links", p)
	return nil
}

// makeImage runs `make image` into dir, as a developer or the e2e suite
// does, and returns the archive's path.
func makeImage(t *testing.T, dir, img, version string, makeArgs ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory", "image", "BIN=" + dir, "IMG=" + img, "VERSION=" + version, "IMAGE_EPOCH=1767225600"}, makeArgs...)...)
	cmd.Dir = repoRoot(t)
	// A make running `go test` must not hand its jobserver to this one.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "MAKEFLAGS=") || strings.HasPrefix(e, "MFLAGS=") || strings.HasPrefix(e, "MAKELEVEL=")
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	return filepath.Join(dir, "image.tar")
}

func TestImageArchiveHoldsWhatTheDockerfilePromises(t *testing.T) {
	const img, version = "sisporta.test/sisporta:deploytest", "v0.0.0-deploytest"
	dir := t.TempDir()
	promised := readDockerfilePromises(t, version)
	a := readImageArchive(t, makeImage(t, dir, img, version))

	if !slices.Equal(a.repoTags, []string{img}) {
		t.Errorf("the archive names the image %v, want [%s]", a.repoTags, img)
	}
	c := a.config.Config
	if a.config.OS != "linux" || a.config.Architecture == "" {
		t.Errorf("platform %s/%s, want linux/<arch>", a.config.OS, a.config.Architecture)
	}
	if c.User != promised.user {
		t.Errorf("User %q, the Dockerfile says %q", c.User, promised.user)
	}
	if !slices.Equal(c.Entrypoint, promised.entrypoint) {
		t.Errorf("Entrypoint %q, the Dockerfile says %q", c.Entrypoint, promised.entrypoint)
	}
	if !slices.Equal(c.Cmd, promised.cmd) {
		t.Errorf("Cmd %q, the Dockerfile says %q", c.Cmd, promised.cmd)
	}
	if fmt.Sprint(c.Labels) != fmt.Sprint(promised.labels) {
		t.Errorf("labels differ from the Dockerfile's:\n got  %v\n want %v", c.Labels, promised.labels)
	}

	// The binary: where COPY puts it, executable, static, this version.
	bin := a.files[promised.binary]
	if bin == nil || bin.Typeflag != tar.TypeReg {
		t.Fatalf("no binary at %s (the Dockerfile's COPY destination)", promised.binary)
	}
	if bin.Mode&0o111 == 0 {
		t.Errorf("%s is not executable: mode %o", promised.binary, bin.Mode)
	}
	e, err := elf.NewFile(bytes.NewReader(a.data[promised.binary]))
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", promised.binary, err)
	}
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%v): distroless static has no libc; build with CGO_ENABLED=0", promised.binary, p.Type)
		}
	}
	wantArch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[e.Machine]
	if wantArch != a.config.Architecture {
		t.Errorf("the binary is for %v, the image says %s", e.Machine, a.config.Architecture)
	}
	if promised.entrypoint[0] != promised.binary {
		t.Errorf("the entrypoint %s is not the binary %s", promised.entrypoint[0], promised.binary)
	}
	exe := filepath.Join(t.TempDir(), "sisporta")
	if err := os.WriteFile(exe, a.data[promised.binary], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), version) || promised.labels["org.opencontainers.image.version"] != version {
		t.Errorf("the image's binary says %q (%v); the image and its label should be version %s", out, err, version)
	}

	// What distroless static nonroot gives the Dockerfile's image.
	uid, gid, _ := strings.Cut(promised.user, ":")
	passwd := string(a.data["/etc/passwd"])
	if !regexp.MustCompile(`(?m)^nonroot:x:` + uid + `:` + gid + `:[^:]*:/home/nonroot:`).MatchString(passwd) {
		t.Errorf("/etc/passwd lacks distroless's nonroot user %s with home /home/nonroot:\n%s", promised.user, passwd)
	}
	if !regexp.MustCompile(`(?m)^nonroot:x:` + gid + `:`).MatchString(string(a.data["/etc/group"])) {
		t.Errorf("/etc/group lacks the nonroot group %s", gid)
	}
	if h := a.files["/home/nonroot"]; h == nil || h.Typeflag != tar.TypeDir || fmt.Sprint(h.Uid) != uid || c.WorkingDir != "/home/nonroot" {
		t.Errorf("want /home/nonroot, owned by %s, as the working directory (distroless nonroot); got %+v, WorkingDir %q", uid, h, c.WorkingDir)
	}
	if h := a.files["/tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode&0o1777 != 0o1777 {
		t.Errorf("want /tmp with mode 1777, got %+v", h)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(a.data["/etc/ssl/certs/ca-certificates.crt"]) || len(a.data["/etc/ssl/certs/ca-certificates.crt"]) < 50_000 {
		t.Errorf("/etc/ssl/certs/ca-certificates.crt is missing or not a CA bundle: TLS to databases needs it")
	}
	if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("Env %v lacks distroless's SSL_CERT_FILE", c.Env)
	}
	for _, zone := range []string{"UTC", "Europe/Lisbon", "America/Sao_Paulo", "Asia/Tokyo"} {
		if _, err := time.LoadLocationFromTZData(zone, a.read(t, "/usr/share/zoneinfo/"+zone)); err != nil {
			t.Errorf("zoneinfo %s: %v (schedules with timeZone need it)", zone, err)
		}
	}

	// One binary only, everything else root's and not writable by others.
	for p, h := range a.files {
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && p != promised.binary {
			t.Errorf("%s is executable: the image holds the one binary only", p)
		}
		if p != "/home/nonroot" && (h.Uid != 0 || h.Gid != 0) {
			t.Errorf("%s is owned by %d:%d, want root", p, h.Uid, h.Gid)
		}
		if h.Typeflag != tar.TypeSymlink && p != "/tmp" && h.Mode&0o002 != 0 {
			t.Errorf("%s is writable by anyone (mode %o)", p, h.Mode)
		}
	}

	// The same binary gives the same image (`-o build`: make keeps the
	// binary it built, whatever happened to the sources since).
	first := filepath.Join(t.TempDir(), "first.tar")
	if err := os.Rename(filepath.Join(dir, "image.tar"), first); err != nil {
		t.Fatal(err)
	}
	again := readImageArchive(t, makeImage(t, dir, img, version, "-o", "build"))
	if again.configName != a.configName {
		t.Errorf("two images of the same binary differ: %s, then %s:\n%s\n%s", a.configName, again.configName, a.rawConfig, again.rawConfig)
	}
}
