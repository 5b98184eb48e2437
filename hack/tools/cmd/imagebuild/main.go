// Command imagebuild writes a container image archive without Docker or a
// registry: files from this machine in tar layers, an image configuration,
// and `docker save` layout (manifest.json, config, layers) that `ctr images
// import` and `docker load` read. `make image` builds Sisporta's image with
// it, holding what the Dockerfile's image holds (test/deploy checks the
// two against each other); hack/cluster.sh builds the local cluster's pause
// image with it.
//
//	imagebuild -o bin/image.tar -tag ghcr.io/sisporta/sisporta:dev \
//	  -add bin/sisporta:/usr/local/bin/sisporta \
//	  -ca-certs /etc/ssl/certs/ca-certificates.crt -zoneinfo /usr/share/zoneinfo \
//	  -user 65532:65532 -username nonroot \
//	  -entrypoint /usr/local/bin/sisporta -cmd manager -label org.opencontainers.image.title=sisporta
//
// Every entry is owned by root (the user's home by the user), has a fixed
// time, and comes in name order, so the same inputs give the same image.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	out, user, username, caCerts, zoneinfo, arch string
	tags, adds, entrypoint, cmd, labels, env     list
	epoch                                        int64
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "", "archive to write")
	flag.Var(&o.tags, "tag", "image reference to name the image by (repeatable)")
	flag.Var(&o.adds, "add", "SRC:DST, a file or directory of this machine put at DST (repeatable)")
	flag.StringVar(&o.caCerts, "ca-certs", "", "CA bundle put at /etc/ssl/certs/ca-certificates.crt (SSL_CERT_FILE is set to it)")
	flag.StringVar(&o.zoneinfo, "zoneinfo", "", "time zone database directory put at /usr/share/zoneinfo")
	flag.StringVar(&o.user, "user", "", "UID:GID the image runs as")
	flag.StringVar(&o.username, "username", "", "name of -user in /etc/passwd and /etc/group, with a home /home/NAME (its working directory)")
	flag.Var(&o.entrypoint, "entrypoint", "entrypoint argument (repeatable, in order)")
	flag.Var(&o.cmd, "cmd", "default command argument (repeatable, in order)")
	flag.Var(&o.labels, "label", "KEY=VALUE label (repeatable)")
	flag.Var(&o.env, "env", "KEY=VALUE environment variable (repeatable)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "architecture of the image's binaries")
	flag.Int64Var(&o.epoch, "epoch", 0, "time of every file and of the image, in Unix seconds")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.out == "" || len(o.tags) == 0 {
		return errors.New("-o and -tag are required")
	}
	when := time.Unix(o.epoch, 0).UTC()
	base := newLayer(when)
	if o.caCerts != "" {
		if err := base.addFile(o.caCerts, "/etc/ssl/certs/ca-certificates.crt"); err != nil {
			return fmt.Errorf("CA certificates (Debian: apt-get install ca-certificates): %w", err)
		}
	}
	if o.zoneinfo != "" {
		if err := base.addTree(o.zoneinfo, "/usr/share/zoneinfo"); err != nil {
			return fmt.Errorf("time zone database (Debian: apt-get install tzdata): %w", err)
		}
	}
	workdir := "/"
	if o.username != "" {
		uid, gid, err := parseUser(o.user)
		if err != nil {
			return err
		}
		home := "/home/" + o.username
		base.addData("/etc/passwd", 0o644, []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n",
			o.username, uid, gid, o.username, home)))
		base.addData("/etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnobody:x:65534:\n%s:x:%d:\n", o.username, gid)))
		base.addDir(home, 0o700, uid, gid)
		base.addDir("/tmp", 0o1777, 0, 0)
		workdir = home
	}
	app := newLayer(when)
	for _, a := range o.adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok || !path.IsAbs(dst) {
			return fmt.Errorf("-add %q: want SRC:/absolute/destination", a)
		}
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = app.addTree(src, dst)
		} else {
			err = app.addFile(src, dst)
		}
		if err != nil {
			return err
		}
	}

	img := empty.Image
	for _, l := range []*layer{base, app} {
		if len(l.entries) == 0 {
			continue
		}
		tl, err := l.toLayer()
		if err != nil {
			return err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: tl, History: v1.History{
			Created: v1.Time{Time: when}, CreatedBy: "imagebuild " + l.describe(), Comment: "hack/tools/cmd/imagebuild",
		}})
		if err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = o.arch, "linux", v1.Time{Time: when}
	cf.Config.User = o.user
	cf.Config.Entrypoint = o.entrypoint
	cf.Config.Cmd = o.cmd
	cf.Config.WorkingDir = workdir
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if o.caCerts != "" {
		cf.Config.Env = append(cf.Config.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	for _, e := range o.env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("-env %q: want KEY=VALUE", e)
		}
		cf.Config.Env = append(cf.Config.Env, e)
	}
	if len(o.labels) > 0 {
		cf.Config.Labels = map[string]string{}
		for _, kv := range o.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("-label %q: want KEY=VALUE", kv)
			}
			cf.Config.Labels[k] = v
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}

	refs := map[name.Reference]v1.Image{}
	for _, t := range o.tags {
		ref, err := name.NewTag(t, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("-tag %q: %w", t, err)
		}
		refs[ref] = img
	}
	tmp := o.out + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return err
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s (%s)\n", o.out, strings.Join(o.tags, ", "), digest)
	return nil
}

func parseUser(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if uid, err = strconv.Atoi(u); err == nil && ok {
		gid, err = strconv.Atoi(g)
	}
	if err != nil || !ok || uid <= 0 || gid <= 0 {
		return 0, 0, fmt.Errorf("-user %q: want a numeric non-root UID:GID", s)
	}
	return uid, gid, nil
}

// layer is one tar layer being put together: entries by path, written
// sorted, each parent directory added as root's 0755.
type layer struct {
	when    time.Time
	entries map[string]*entry
	sources []string
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func newLayer(when time.Time) *layer { return &layer{when: when, entries: map[string]*entry{}} }

func (l *layer) describe() string {
	if len(l.sources) == 0 {
		return "base files"
	}
	return strings.Join(l.sources, " ")
}

func (l *layer) parents(p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok {
			l.addDir(d, 0o755, 0, 0)
		}
	}
}

func (l *layer) addDir(p string, mode int64, uid, gid int) {
	l.parents(p)
	l.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: l.when}}
}

func (l *layer) addData(p string, mode int64, data []byte) {
	l.parents(p)
	l.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data)), ModTime: l.when}, data: data}
}

// addFile copies a regular file (following symlinks): executable files
// keep 0755, others are 0644.
func (l *layer) addFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	mode := int64(0o644)
	if st.Mode()&0o111 != 0 {
		mode = 0o755
	}
	l.addData(dst, mode, b)
	l.sources = append(l.sources, dst)
	return nil
}

// addTree copies a directory: regular files, directories, and symbolic
// links that stay inside it (others are left out).
func (l *layer) addTree(src, dst string) error {
	src = filepath.Clean(src)
	l.sources = append(l.sources, dst+"/")
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			l.addDir(target, 0o755, 0, 0)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			resolved := filepath.Clean(filepath.Join(filepath.Dir(rel), link))
			if filepath.IsAbs(link) || resolved == ".." || strings.HasPrefix(resolved, "../") {
				return nil
			}
			l.parents(target)
			l.entries[target] = &entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(target, "/"), Linkname: link, Mode: 0o777, ModTime: l.when}}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			l.addData(target, 0o644, b)
		}
		return nil
	})
}

func (l *layer) toLayer() (v1.Layer, error) {
	paths := make([]string, 0, len(l.entries))
	for p := range l.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := l.entries[p]
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
