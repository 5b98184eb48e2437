package source

import (
	"context"
	"fmt"
	"sort"
	"strings"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/failure"
)

// WriteAccess asks the source what its login may change and returns a
// warning when it can modify data: Sisporta only ever reads, but a login
// that can only read is the guard that holds whatever happens. "" when the
// login can only read (or the check itself is not possible: for MySQL it
// is advice, never a reason to fail).
//
// SQL Server has no read-only transactions, so there the login is the only
// guard: a login that can write is refused with an error saying how to make
// one that cannot, unless spec.source.allowWritableLogin accepts it.
func (s *Source) WriteAccess(ctx context.Context) (string, error) {
	privs, scope, err := s.d.writePrivileges(ctx, s.db)
	if err != nil {
		return "", nil
	}
	return writeVerdict(s.spec, privs, scope)
}

// writeVerdict judges the write privileges a login has on scope.
func writeVerdict(spec syncv1alpha1.SourceSpec, privs []string, scope string) (string, error) {
	if len(privs) == 0 {
		return "", nil
	}
	sort.Strings(privs)
	if spec.Driver == syncv1alpha1.SourceSQLServer && !spec.AllowWritableLogin {
		return "", failure.Permanent(fmt.Errorf("the source login can modify data (%s on %s), and SQL Server has no read-only transactions to stop a write: give Sisporta a login that can only read (CREATE LOGIN sisporta_reader WITH PASSWORD = '<password>'; then in the ERP database: CREATE USER sisporta_reader FOR LOGIN sisporta_reader; ALTER ROLE db_datareader ADD MEMBER sisporta_reader;) and put it in the source DSN Secret, or set spec.source.allowWritableLogin: true to read through this login anyway", strings.Join(privs, ", "), scope))
	}
	return fmt.Sprintf("the source login can modify data (%s on %s): Sisporta only reads, but give it a login that can only read (MySQL: GRANT SELECT only; SQL Server: db_datareader only), so that nothing can write through it", strings.Join(privs, ", "), scope), nil
}

// mysqlWritePrivileges are the privileges that let a MySQL login change
// data, schemas or files.
var mysqlWritePrivileges = map[string]bool{
	"ALL": true, "ALL PRIVILEGES": true, "INSERT": true, "UPDATE": true, "DELETE": true, "DELETE HISTORY": true,
	"CREATE": true, "DROP": true, "ALTER": true, "INDEX": true, "TRIGGER": true, "CREATE ROUTINE": true,
	"ALTER ROUTINE": true, "EXECUTE": true, "FILE": true, "SUPER": true, "CREATE VIEW": true, "EVENT": true,
}

// mysqlWriteGrants reads SHOW GRANTS lines: the write privileges granted on
// every database (*.*) or on the given one (or its tables).
func mysqlWriteGrants(lines []string, database string) []string {
	found := map[string]bool{}
	for _, line := range lines {
		rest, ok := strings.CutPrefix(line, "GRANT ")
		if !ok {
			continue
		}
		privs, obj, ok := strings.Cut(rest, " ON ")
		if !ok {
			continue // a role granted to the login
		}
		obj, _, _ = strings.Cut(obj, " TO ")
		obj = strings.TrimSpace(obj)
		db, _, _ := strings.Cut(obj, ".")
		db = strings.Trim(db, "`")
		if obj != "*.*" && !strings.EqualFold(db, database) {
			continue
		}
		for _, p := range splitPrivileges(privs) {
			if mysqlWritePrivileges[p] {
				found[p] = true
			}
		}
	}
	var out []string
	for p := range found {
		out = append(out, p)
	}
	return out
}

// splitPrivileges splits "SELECT, INSERT (a, b), UPDATE" into privilege
// names, dropping column lists.
func splitPrivileges(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		p := strings.TrimSpace(s[start:i])
		if j := strings.IndexByte(p, '('); j >= 0 {
			p = strings.TrimSpace(p[:j])
		}
		if p != "" {
			out = append(out, strings.ToUpper(p))
		}
		start = i + 1
	}
	return out
}
