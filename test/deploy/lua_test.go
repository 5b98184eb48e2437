package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// Argo CD runs health checks and actions in gopher-lua with only the
// package, base and table libraries and an os library cut down to time and
// date (util/lua in Argo CD). luaVM builds the same sandbox, so a script
// that calls anything else fails here as it would there.
func luaVM(t *testing.T, obj map[string]any) *lua.LState {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	safeOS := safeOSTable(l)
	l.SetGlobal(lua.OsLibName, safeOS)
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(safeOS)
		return 1
	})
	l.SetGlobal("obj", toLua(l, obj))
	return l
}

// safeOSTable holds gopher-lua's own os.time and os.date, nothing else.
func safeOSTable(l *lua.LState) *lua.LTable {
	full := lua.NewState()
	defer full.Close()
	osLib := full.GetGlobal(lua.OsLibName).(*lua.LTable)
	t := l.NewTable()
	for _, name := range []string{"time", "date"} {
		fn := osLib.RawGetString(name).(*lua.LFunction)
		l.SetField(t, name, l.NewFunction(fn.GFunction))
	}
	return t
}

// runLua runs a script with obj and returns what it returns.
func runLua(t *testing.T, script string, obj map[string]any) lua.LValue {
	t.Helper()
	l := luaVM(t, obj)
	defer l.Close()
	if err := l.DoString(script); err != nil {
		t.Fatalf("the script fails in Argo CD's Lua sandbox: %v", err)
	}
	return l.Get(-1)
}

// toLua and fromLua convert as Argo CD does: JSON objects and arrays become
// tables, and tables with keys 1..n become arrays again.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(toLua(l, e))
		}
		return t
	}
	panic(fmt.Sprintf("unexpected JSON value %T", v))
}

func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case *lua.LTable:
		if n := v.MaxN(); n > 0 {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(v.RawGetInt(i)))
			}
			return arr
		}
		m := map[string]any{}
		v.ForEach(func(k, e lua.LValue) { m[k.String()] = fromLua(e) })
		return m
	}
	return v.String()
}

// objFromYAML parses a test object written as YAML into JSON values.
func objFromYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// argoScripts are the scripts as users register them: read from the
// generated config/argocd/argocd-cm.yaml, not from the .lua sources.
type argoScripts struct {
	health    string
	discovery string
	actions   map[string]string
}

func loadArgoScripts(t *testing.T) argoScripts {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "config/argocd/argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	s := argoScripts{health: cm.Data["resource.customizations.health.sync.sisporta.io_SyncPipeline"], actions: map[string]string{}}
	var actions struct {
		Discovery   string `json:"discovery.lua"`
		Definitions []struct {
			Name   string `json:"name"`
			Action string `json:"action.lua"`
		} `json:"definitions"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["resource.customizations.actions.sync.sisporta.io_SyncPipeline"]), &actions); err != nil {
		t.Fatalf("the actions customization is not what Argo CD reads: %v", err)
	}
	s.discovery = actions.Discovery
	for _, d := range actions.Definitions {
		s.actions[d.Name] = d.Action
	}
	if s.health == "" || s.discovery == "" || len(s.actions) != 3 {
		t.Fatalf("argocd-cm.yaml lacks the health check, discovery or the three actions: %+v", s)
	}
	return s
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
