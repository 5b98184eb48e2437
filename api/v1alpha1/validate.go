package v1alpha1

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Validate checks what the CRD's rules check, plus what CEL cannot afford
// (column target names unique within an entity), for pipelines read from a
// file and as the operator's first reconcile step. It returns every problem
// at once, each naming the field and what to do.
func (p *SyncPipeline) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("spec.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	// A manifest read from a file (sisporta sync -f) never met the API
	// server's name rules; queue names and target state build on them.
	if p.Name != "" && (len(p.Name) > 253 || !secretName.MatchString(p.Name)) {
		errs = append(errs, fmt.Errorf("metadata.name: %q must be a Kubernetes name: lower-case letters, digits, '-' and '.'", p.Name))
	}
	if p.Namespace != "" && (len(p.Namespace) > 63 || !dnsLabel.MatchString(p.Namespace)) {
		errs = append(errs, fmt.Errorf("metadata.namespace: %q must be a Kubernetes namespace name: lower-case letters, digits and '-'", p.Namespace))
	}
	s := &p.Spec
	if strings.TrimSpace(s.Schedule) == "" {
		add("schedule", "is empty: give a cron expression such as \"*/15 * * * *\"")
	} else if !cronShape.MatchString(s.Schedule) {
		add("schedule", "%q is not a cron expression of five fields (minute hour day-of-month month day-of-week) or a macro such as @hourly", s.Schedule)
	}
	switch s.Source.Driver {
	case SourceSQLServer, SourceMySQL:
	default:
		add("source.driver", "%q is not supported: use sqlserver or mysql", s.Source.Driver)
	}
	switch s.Source.Isolation {
	case "", IsolationReadCommitted:
	case IsolationSnapshot:
		if s.Source.Driver != SourceSQLServer {
			add("source.isolation", "Snapshot is for SQL Server sources; MySQL sources always read a consistent snapshot: remove it")
		}
	default:
		add("source.isolation", "%q is not supported: use ReadCommitted or Snapshot", s.Source.Isolation)
	}
	if t := s.Source.LockTimeoutSeconds; t != nil && (*t < 1 || *t > 3600) {
		add("source.lockTimeoutSeconds", "%d is out of range: give 1 to 3600 seconds", *t)
	}
	if s.Target.Driver != "" && s.Target.Driver != TargetMySQL {
		add("target.driver", "%q is not supported: use mysql", s.Target.Driver)
	}
	checkSecret := func(field string, r *SecretKeySelector) {
		switch {
		case r == nil || r.Name == "" || r.Key == "":
			add(field, "needs name and key of a Secret holding the connection string")
		case !secretName.MatchString(r.Name):
			add(field+".name", "%q must be a Secret name: lower-case letters, digits, '-' and '.'", r.Name)
		case !secretKey.MatchString(r.Key):
			add(field+".key", "%q must be a Secret key: letters, digits, '-', '_' and '.'", r.Key)
		}
	}
	checkSecret("source.dsnSecretRef", &s.Source.DSNSecretRef)
	checkSecret("target.dsnSecretRef", &s.Target.DSNSecretRef)
	if s.Queue.RedisSecretRef != nil {
		checkSecret("queue.redisSecretRef", s.Queue.RedisSecretRef)
	}
	if w := s.Workers; w.MinReplicas > w.MaxReplicas {
		add("workers", "minReplicas (%d) must not be greater than maxReplicas (%d)", w.MinReplicas, w.MaxReplicas)
	}
	if s.Workers.TargetPendingPerReplica < 1 {
		add("workers.targetPendingPerReplica", "must be at least 1")
	}
	if s.BatchSize < 1 || s.BatchSize > 50000 {
		add("batchSize", "%d is outside 1..50000", s.BatchSize)
	}
	if v := s.Verify; v != nil {
		if v.EveryRuns != nil && *v.EveryRuns < 1 {
			add("verify.everyRuns", "%d must be at least 1", *v.EveryRuns)
		}
		if v.Interval != nil && v.Interval.Duration <= 0 {
			add("verify.interval", "%s must be a positive duration such as 24h", v.Interval.Duration)
		}
	}
	if len(s.Entities) == 0 {
		add("entities", "is empty: name at least one table to mirror")
	}
	names, tables := map[string]bool{}, map[string]bool{}
	for i, e := range s.Entities {
		f := fmt.Sprintf("entities[%d]", i)
		if !dnsLabel.MatchString(e.Name) {
			add(f+".name", "%q must be a DNS label: lower-case letters, digits and '-'", e.Name)
		}
		if names[e.Name] {
			add(f+".name", "%q is used by another entity: entity names must be unique", e.Name)
		}
		names[e.Name] = true
		if tables[string(e.Target.Table)] {
			add(f+".target.table", "%q is the target of another entity: two entities writing one table would delete each other's rows", e.Target.Table)
		}
		tables[string(e.Target.Table)] = true
		if (e.Source.Table == "") == (e.Source.Query == "") {
			add(f+".source", "set exactly one of table or query")
		}
		if e.Source.Query != "" && len(e.Source.KeyColumns) == 0 {
			add(f+".source.keyColumns", "a query needs keyColumns: it has no primary key to discover")
		}
		// where and query are judged by the source's dialect; with an
		// unknown driver, that driver is the problem reported above.
		if d := s.Source.Driver; d == SourceSQLServer || d == SourceMySQL {
			if e.Source.Query != "" {
				if err := CheckQuery(d, e.Source.Query); err != nil {
					errs = append(errs, fmt.Errorf("spec.%s.%w", f, err))
				}
			}
			if err := CheckWhere(d, e.Source.Where); err != nil {
				errs = append(errs, fmt.Errorf("spec.%s.%w", f, err))
			}
		}
		checkIdent(add, f+".source.table", e.Source.Table, e.Source.Table != "")
		checkIdent(add, f+".target.table", e.Target.Table, true)
		if t := string(e.Target.Table); IsReservedName(t[strings.LastIndex(t, ".")+1:]) {
			add(f+".target.table", "%q: names starting with %s belong to Sisporta's own state tables: choose another name", t, ReservedPrefix)
		}
		if o := e.Target.TakeOverFrom; o != "" && strings.Count(o, "/") != 2 {
			add(f+".target.takeOverFrom", "%q must name the current owner as <namespace>/<pipeline>/<entity>, e.g. sales/erp-to-quotes/products", o)
		}
		for j, k := range e.Source.KeyColumns {
			checkIdent(add, fmt.Sprintf("%s.source.keyColumns[%d]", f, j), k, true)
		}
		if c := e.Source.Cursor; c != nil {
			checkIdent(add, f+".source.cursor.column", c.Column, true)
			if c.Kind != CursorRowVersion && c.Kind != CursorUpdatedAt {
				add(f+".source.cursor.kind", "%q is not supported: use RowVersion or UpdatedAt", c.Kind)
			}
			if c.Kind == CursorRowVersion && s.Source.Driver != SourceSQLServer {
				add(f+".source.cursor.kind", "RowVersion needs source.driver sqlserver; use UpdatedAt")
			}
		}
		targets := map[Identifier]bool{}
		for j, c := range e.Columns {
			checkIdent(add, fmt.Sprintf("%s.columns[%d].source", f, j), c.Source, true)
			if c.Target != "" {
				checkIdent(add, fmt.Sprintf("%s.columns[%d].target", f, j), c.Target, true)
			}
			t := c.TargetColumn()
			if IsReservedName(string(t)) {
				add(fmt.Sprintf("%s.columns[%d]", f, j), "target column %q: names starting with %s belong to Sisporta (%shash, %sdeleted_at): map the column to another target name", t, ReservedPrefix, ReservedPrefix, ReservedPrefix)
			}
			// MySQL compares column names without case.
			lt := Identifier(strings.ToLower(string(t)))
			if targets[lt] {
				add(fmt.Sprintf("%s.columns[%d]", f, j), "target column %q appears twice (MySQL column names ignore case): column target names must be unique within an entity", t)
			}
			targets[lt] = true
		}
		switch e.Cleanup.Mode {
		case "", CleanupDelete, CleanupSoftDelete, CleanupOff:
		default:
			add(f+".cleanup.mode", "%q is not supported: use Delete, SoftDelete or Off", e.Cleanup.Mode)
		}
		if m := e.Cleanup.MaxDeletePercent; m != nil && (*m < 0 || *m > 100) {
			add(f+".cleanup.maxDeletePercent", "%d is outside 0..100", *m)
		}
	}
	return errors.Join(errs...)
}

var (
	cronShape  = regexp.MustCompile(`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( +\S+){4})$`)
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	secretName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	secretKey  = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	badIdentRe = regexp.MustCompile("[\\x00-\\x1f\\x7f\"'`;\\[\\]\\\\]")
)

func checkIdent(add func(field, format string, args ...any), field string, id Identifier, required bool) {
	switch {
	case id == "" && required:
		add(field, "is empty")
	case len(id) > 128:
		add(field, "is longer than 128 characters")
	case badIdentRe.MatchString(string(id)):
		add(field, "%q must not contain quotes, backticks, brackets, backslashes, semicolons or control characters: write the plain name (Sisporta quotes identifiers itself)", id)
	}
}

// ReservedPrefix starts the names of Sisporta's own state tables and
// columns in the target: users may not name tables or columns with it.
const ReservedPrefix = "_sisporta_"

// IsReservedName reports whether a table or column name is Sisporta's
// (MySQL compares column names without case).
func IsReservedName(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), ReservedPrefix)
}
