package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Argo CD finds customizations of a kind under these argocd-cm keys.
const (
	argoHealthKey  = "resource.customizations.health.sync.sisporta.io_SyncPipeline"
	argoActionsKey = "resource.customizations.actions.sync.sisporta.io_SyncPipeline"
)

// argoActions are the resource actions, in the order Argo CD lists them.
var argoActions = []string{"run-now", "suspend", "resume"}

// writeArgoCDConfigMap builds the argocd-cm patch that registers the health
// check and the resource actions. The Lua files keep Argo CD's own layout
// (health.lua, actions/discovery.lua, actions/NAME/action.lua) so that they
// can be read, tested and diffed as Lua.
func writeArgoCDConfigMap(dir, dst string) error {
	read := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return "", fmt.Errorf("reading the Argo CD Lua script: %w", err)
		}
		return strings.TrimRight(string(b), "\n") + "\n", nil
	}
	health, err := read("health.lua")
	if err != nil {
		return err
	}
	discovery, err := read("actions/discovery.lua")
	if err != nil {
		return err
	}
	var actions strings.Builder
	actions.WriteString("discovery.lua: |\n" + indent(discovery, 2))
	actions.WriteString("definitions:\n")
	for _, name := range argoActions {
		lua, err := read(filepath.Join("actions", name, "action.lua"))
		if err != nil {
			return err
		}
		actions.WriteString("- name: " + name + "\n  action.lua: |\n" + indent(lua, 4))
	}

	var out strings.Builder
	fmt.Fprintf(&out, "# "+generatedHeader+"\n", dir+"/*.lua")
	out.WriteString(`# Registers the SyncPipeline health check and the run-now, suspend and resume
# actions with Argo CD (see docs/operations.md, "Argo CD"):
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
`)
	out.WriteString("  " + argoHealthKey + ": |\n" + indent(health, 4))
	out.WriteString("  " + argoActionsKey + ": |\n" + indent(actions.String(), 4))
	return write(dst, []byte(out.String()))
}

// indent prefixes every non-empty line with n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
