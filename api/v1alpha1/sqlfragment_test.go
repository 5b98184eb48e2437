package v1alpha1_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

const (
	my = syncv1alpha1.SourceMySQL
	ms = syncv1alpha1.SourceSQLServer
)

// fragmentCase is one where or query in one dialect (both: each of them).
// want is "" for an accepted fragment, else a piece of the message; at is
// the character the message must point at (0: not checked).
type fragmentCase struct {
	dialect string // "mysql", "sqlserver" or "both"
	query   bool
	in      string
	want    string
	at      int
}

var fragmentCases = []fragmentCase{
	// Harmless text the substring rules used to refuse or mishandle.
	{"both", false, "Ativo = 1", "", 0},
	{"both", false, "v <> 'a;b'", "", 0},
	{"both", false, "name = 'it''s -- fine'", "", 0},
	{"both", false, "note LIKE '%#%'", "", 0},
	{"both", false, "a /2", "", 0},
	{"both", false, "a / 2 > 1 AND b * 3 < 4", "", 0},
	{"both", false, "note LIKE '%/*%' AND x <> '*/'", "", 0},
	{"both", false, "code IN ('--', '-- ', '#', '/*!', '/*+', ';')", "", 0},
	{"both", false, "(a = 1 OR b = 2) AND c IN (1, 2, (3))", "", 0},
	{"both", false, "name = N'Zoë 東京 🚪'", "", 0},
	{"both", false, "Preço > 10 AND Descrição <> ''", "", 0},
	{"both", false, "EXISTS (SELECT 1 FROM Orders o WHERE o.CustomerId = c.Id)", "", 0},
	{"both", false, "d >= '2024-01-01' AND x = -1 AND y - -1 = 2", "", 0},
	{"both", false, "x = 1e5 AND y = 0x1F AND z = .5 AND w = 1.5E-3", "", 0},
	{"both", false, "a */ 2", "", 0}, // not a comment: '*' then '/' (a syntax error for the server, nothing more)
	{"both", false, "label = 'SELECT * INTO x; DELETE FROM y -- #'", "", 0},
	{"both", false, "x = 1\n  AND y = 2\r\n\tAND z = 3", "", 0},
	{"both", false, "CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END = 'pos'", "", 0},
	{"both", false, "intolerant = 1 AND into_date IS NULL AND x_into = 2", "", 0},
	{"both", false, "sets = 1 AND updated_at > '2024-01-01'", "", 0},
	{"both", false, "x = 0x1DE", "", 0}, // hex 1DE, no DELETE in it

	// MySQL literals and names.
	{"mysql", false, "path = 'C:\\\\dir\\\\'", "", 0},
	{"mysql", false, "s = 'a\\nb\\tc\\%'", "", 0},
	{"mysql", false, `s = "it""s" AND t = 'it''s'`, "", 0},
	{"mysql", false, "`order` = 1 AND `we``ird;--#/*` = 2", "", 0},
	{"mysql", false, "x = _utf8mb4'abc' AND y = X'4D' AND z = B'01' AND w = N'abc' AND v = _binary'x'", "", 0},
	{"mysql", false, "SUBSTRING(s FROM 1 FOR 3) = 'abc'", "", 0},
	{"mysql", false, "a--1 = 0", "", 0}, // double minus, not a comment
	{"mysql", false, "a --1 = 0 AND b--+1 = 0", "", 0},
	{"mysql", false, "@uservar IS NULL AND `Set` = 1 AND handler = 1", "", 0},
	{"mysql", false, "JSON_EXTRACT(j, '$.a') = 1 AND x <=> NULL", "", 0},
	{"mysql", false, "`lock` = 1 AND `procedure` = 2 AND `into` = 3", "", 0},
	{"mysql", false, "s = 'a\\\\' AND t = 1", "", 0}, // 'a\\' ends at the same quote in every sql_mode
	{"mysql", false, `s = "x\\y" AND "col" = 1`, "", 0},
	{"mysql", false, "next_value = 1 AND nextval = 2", "", 0}, // names, not calls

	// T-SQL literals and names.
	{"sqlserver", false, "[a]]b] = 1 AND [x;--/*] = 2", "", 0},
	{"sqlserver", false, "[Set] = 1 AND [Delete] = 2 AND \"Update\" = 3", "", 0},
	{"sqlserver", false, `"quoted ""ident""" = 1`, "", 0},
	{"sqlserver", false, "EXISTS (SELECT 1 FROM #recent r WHERE r.id = id) AND x <> '#'", "", 0},
	{"sqlserver", false, "@@SPID > 0 AND @@ROWCOUNT >= 0", "", 0},
	{"sqlserver", false, "price = $12.50", "", 0},
	{"sqlserver", false, "code LIKE '[a-c]%'", "", 0},
	{"sqlserver", false, "s = 'back\\slash' AND t = 'a\\' AND 1 = 1", "", 0}, // no backslash escapes in T-SQL
	{"sqlserver", false, "DATEADD(day, -1, GETDATE()) < d AND CAST(x AS nvarchar(10)) = N'a'", "", 0},
	{"sqlserver", false, "Go = 1", "", 0}, // GO is a client tool's separator, not T-SQL
	{"sqlserver", false, "id IN (SELECT id FROM t ORDER BY id OFFSET 0 ROWS FETCH NEXT 5 ROWS ONLY)", "", 0},
	{"sqlserver", false, "Descrição = N'ação' AND [Año] > 1", "", 0},

	// Queries.
	{"both", true, "SELECT * FROM Produtos WHERE Ativo = 1", "", 0},
	{"both", true, "select a, b from t", "", 0},
	{"both", true, "\n  SELECT 'INTO; --' AS w", "", 0},
	{"both", true, "(SELECT a FROM t1) UNION (SELECT a FROM t2)", "", 0},
	{"both", true, "SELECT p.id, (SELECT COUNT(*) FROM o WHERE o.p = p.id) AS n FROM p", "", 0},
	{"mysql", true, "WITH c AS (SELECT 1 AS id) SELECT id FROM c", "", 0},
	{"mysql", true, "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r", "", 0},
	{"mysql", true, "with a AS (SELECT 1 x), `b` AS (SELECT 2 y) select * FROM a, b", "", 0},
	{"sqlserver", true, "SELECT TOP 10 [Id], [Name] FROM dbo.Produtos ORDER BY [Id]", "", 0},

	// The exploits that got through the substring rules.
	{"mysql", true, "SELECT 1 AS id) q, (SELECT f_write() AS z) z2 #", "a ')' without a matching '('", 15},
	{"mysql", true, "SELECT 1 AS id FROM t #", "a comment starts", 23},
	{"mysql", false, "1=1) INTO OUTFILE '/tmp/x' #", "a ')' without a matching '('", 4},
	{"mysql", false, "1=1 INTO OUTFILE '/tmp/x'", "the word INTO", 5},
	{"sqlserver", false, "1=1) DELETE FROM x WHERE (1=1", "a ')' without a matching '('", 4},
	{"sqlserver", false, "1=1 DELETE FROM x", "DELETE starts a statement that deletes rows", 5},
	{"both", false, "1=1; DELETE FROM x", "a ';'", 4},
	{"both", true, "SELECT 1; DROP TABLE t", "a ';'", 9},

	// Comments, every form.
	{"both", false, "x = 1 -- why", "a comment starts", 7},
	{"both", false, "x = 1 /* why */", "a comment starts", 7},
	{"both", false, "/* /* nested */ */ x = 1", "a comment starts", 1},
	{"mysql", false, "x = 1 /*! OR 1=1 */", "run the text of /*! … */ as SQL", 7},
	{"mysql", false, "x = 1 /*M! OR 1=1 */", "run the text of /*! … */ as SQL", 7},
	{"mysql", false, "x /*+ BKA(t) */ = 1", "optimizer hints", 3},
	{"both", false, "x = 1 /* never closed", "a comment starts", 7},
	{"sqlserver", false, "x = 1 /*! OR 1=1 */", "a comment starts", 7},
	{"mysql", false, "x = 1 # note", "a comment starts", 7},
	{"mysql", false, "x = 1 #", "a comment starts", 7},
	{"mysql", false, "x = 1 --", "a comment starts", 7},
	{"mysql", false, "x = 1 --\tnote", "a comment starts", 7},
	{"mysql", false, "x = 1 --\nOR 1=1", "a comment starts", 7},
	{"mysql", false, "x = 1 --\u00a0note", "a comment starts", 7},
	{"mysql", false, "x = 1 --- 1", "a comment starts", 8},
	{"sqlserver", false, "a--1 = 0", "even without a space", 2},
	{"sqlserver", false, "x = 1 --", "a comment starts", 7},
	{"mysql", false, "EXISTS (SELECT 1 FROM #recent)", "a comment starts", 23},

	// Quotes that never close, and backslashes before quotes on MySQL.
	{"both", false, "name = 'abc", "a string that is never closed", 8},
	{"both", false, "name = 'it''s", "a string that is never closed", 8},
	{"both", false, "name = '", "a string that is never closed", 8},
	{"mysql", false, `name = "abc`, "a string that is never closed", 8},
	{"mysql", false, "`abc = 1", "a quoted name that is never closed", 1},
	{"mysql", false, "`a`` = 1", "a quoted name that is never closed", 1},
	{"sqlserver", false, "[abc = 1", "a quoted name that is never closed", 1},
	{"sqlserver", false, "[a]] = 1", "a quoted name that is never closed", 1},
	{"sqlserver", false, `"abc = 1`, "a quoted name that is never closed", 1},
	{"mysql", false, `name = 'O\'Brien'`, "a backslash before a quote", 10},
	{"mysql", false, `name = "say \"hi\""`, "a backslash before a quote", 13},
	{"mysql", false, `name = 'a\\\' OR 1=1) #'`, "a backslash before a quote", 12},
	{"mysql", false, `name = 'a\`, "a string that is never closed", 8},

	// Parentheses.
	{"both", false, "(a = 1", "a '(' that is never closed", 1},
	{"both", false, "a IN (1, (2)", "a '(' that is never closed", 6},
	{"both", false, "a = 1)", "a ')' without a matching '('", 6},
	{"both", false, ")(", "a ')' without a matching '('", 1},
	{"both", false, "f(a)) OR (1=1", "a ')' without a matching '('", 5},
	{"both", true, "SELECT (1", "a '(' that is never closed", 8},

	// Writing and locking words.
	{"both", false, "x IN (SELECT a INTO @v FROM t)", "the word INTO", 16},
	{"both", false, "x IN (SELECT a Into t2 FROM t)", "the word INTO", 16},
	{"both", true, "SELECT a INTO new_t FROM t", "the word INTO", 10},
	{"both", false, "x IN (SELECT a ıNTO t2 FROM t)", "the word INTO", 16}, // dotless ı upper-cases to I
	{"mysql", false, "x = 1into", "the word INTO", 5},
	{"mysql", false, "id IN (SELECT id FROM t FOR UPDATE)", "a locking clause", 25},
	{"mysql", false, "id IN (SELECT id FROM t for\n share)", "a locking clause", 25},
	{"mysql", false, "id IN (SELECT id FROM t LOCK IN SHARE MODE)", "the word LOCK", 25},
	{"mysql", true, "SELECT a FROM t PROCEDURE ANALYSE()", "the word PROCEDURE", 17},
	{"mysql", false, "NEXTVAL(s) > 0", "a sequence function", 1},
	{"mysql", false, "SETVAL (s, 5) > 0", "a sequence function", 1},
	{"both", false, "NEXT VALUE FOR s > 0", "NEXT VALUE FOR", 1},
	{"sqlserver", false, "x = 1DELETE FROM t", "DELETE starts", 5},
	{"sqlserver", false, "x = 1e5DELETE FROM t", "DELETE starts", 5},
	{"sqlserver", false, "x = 1.e5DELETE FROM t", "DELETE starts", 7},
	{"sqlserver", false, "x = $1DELETE FROM t", "DELETE starts", 5},
	{"sqlserver", false, "x = 1 \u212aILL 55", "KILL ends other sessions", 7}, // the Kelvin sign folds to K
	{"sqlserver", false, "EXISTS (SELECT * FROM OPENQUERY(srv, 'DELETE FROM t'))", "OPENQUERY runs a query on a linked server", 23},
	{"sqlserver", false, "EXISTS (SELECT * FROM OPENROWSET('SQLNCLI', 'Server=.;', 'EXEC x'))", "OPENROWSET runs a query", 23},
	{"sqlserver", false, "1=1 WAITFOR DELAY '0:0:5'", "WAITFOR holds the statement open", 5},
	{"sqlserver", false, "Set = 1", "write it in brackets: [Set]", 1},
	{"sqlserver", false, "x = 1 EXEC('DROP TABLE t')", "EXEC runs a procedure", 7},

	// Placeholders and variables that would take Sisporta's parameters.
	{"mysql", false, "x = ?", "a '?'", 5},
	{"mysql", false, "x = '?'", "", 0},
	{"sqlserver", false, "x = @p1", "a variable", 5},

	// Bytes that are not text.
	{"both", false, "x = 1\x00", "a NUL character", 6},
	{"both", false, "x = 'a\x00b'", "a NUL character", 7},
	{"both", false, "x = '\xff'", "a byte that is not UTF-8", 6},
	{"both", false, "é = 1 AND \xc3", "a byte that is not UTF-8", 11},

	// Blank and empty.
	{"both", false, "", "", 0},
	{"both", false, " \t\n", "source.where is blank", 0},
	{"both", true, "", "source.query is empty", 0},
	{"both", true, "  ", "source.query is empty", 0},

	// Queries that are not a SELECT.
	{"both", true, "DELETE FROM t", "a query that does not start with SELECT", 1},
	{"both", true, "SHOW TABLES", "a query that does not start with SELECT", 1},
	{"both", true, "(DELETE FROM t)", "a query that does not start with SELECT", 2},
	{"both", true, "SELECTx FROM t", "a query that does not start with SELECT", 1},
	{"mysql", true, "TABLE t", "a query that does not start with SELECT", 1},
	{"mysql", true, "/* c */ SELECT 1", "a comment starts", 1},
	{"mysql", true, "WITH c AS (SELECT 1 AS id) DELETE FROM t", "a WITH clause followed by something other than SELECT", 28},
	{"mysql", true, "WITH c AS (SELECT 1 AS id), d AS (SELECT 2) UPDATE t SET x = 1", "a WITH clause followed by something other than SELECT", 45},
	{"mysql", true, "WITH c (SELECT 1) SELECT 1", "a WITH clause without AS", 19},
	{"mysql", true, "WITH c AS SELECT 1", "a WITH clause without its (SELECT …)", 11},
	{"mysql", true, "WITH c AS (SELECT 1)", "a WITH clause not followed by SELECT", 20},
	{"sqlserver", true, "WITH c AS (SELECT 1 AS id) SELECT id FROM c", "SQL Server does not allow WITH inside a derived table", 1},
}

func dialects(d string) []syncv1alpha1.SourceDriver {
	switch d {
	case "mysql":
		return []syncv1alpha1.SourceDriver{my}
	case "sqlserver":
		return []syncv1alpha1.SourceDriver{ms}
	}
	return []syncv1alpha1.SourceDriver{my, ms}
}

func TestCheckWhereAndQuery(t *testing.T) {
	accepted, refused := 0, 0
	for i, c := range fragmentCases {
		for _, d := range dialects(c.dialect) {
			check, field := syncv1alpha1.CheckWhere, "source.where"
			if c.query {
				check, field = syncv1alpha1.CheckQuery, "source.query"
			}
			name := fmt.Sprintf("%d/%s/%s/%q", i, d, field, c.in)
			err := check(d, c.in)
			if c.want == "" {
				accepted++
				if err != nil {
					t.Errorf("%s: refused: %v", name, err)
				}
				continue
			}
			refused++
			if err == nil {
				t.Errorf("%s: accepted, want an error containing %q", name, c.want)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("%s:\n got %s\nwant it to contain %q", name, msg, c.want)
			}
			var fe *syncv1alpha1.FragmentError
			if !errors.As(err, &fe) {
				t.Errorf("%s: %T is not a *FragmentError", name, err)
				continue
			}
			if fe.Char != c.at {
				t.Errorf("%s: points at character %d, want %d: %s", name, fe.Char, c.at, msg)
			}
			// Every message names the field, says what to do, and quotes the
			// offending text where it is.
			if !strings.HasPrefix(msg, field) || !strings.Contains(msg, "; ") {
				t.Errorf("%s: %q does not name %s or say what to do", name, msg, field)
			}
			if fe.Char > 0 {
				if want := fmt.Sprintf("at character %d (%q)", fe.Char, fe.Token); !strings.Contains(msg, want) {
					t.Errorf("%s: %q does not say %s", name, msg, want)
				}
				if fe.Token == "" || !strings.HasPrefix(c.in[fe.Offset:], strings.TrimSuffix(fe.Token, "…")) {
					t.Errorf("%s: token %q is not the text at offset %d", name, fe.Token, fe.Offset)
				}
				if got := utf8.RuneCountInString(c.in[:fe.Offset]) + 1; got != fe.Char {
					t.Errorf("%s: offset %d is character %d, not %d", name, fe.Offset, got, fe.Char)
				}
			}
		}
	}
	t.Logf("%d fragments accepted, %d refused, as they should be", accepted, refused)
}

func TestFragmentMessage(t *testing.T) {
	err := syncv1alpha1.CheckWhere(my, "Ativo = 1 AND Tipo <> 'x' # hidden")
	want := `source.where: a comment starts at character 27 ("#"): comments are not allowed (they could hide the rest of Sisporta's statement); remove it (a '#' inside quotes, as in LIKE '%#%', is fine)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	err = syncv1alpha1.CheckWhere(my, "x = '"+strings.Repeat("a", 40))
	if want := `("'` + strings.Repeat("a", 23) + `…")`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a long token is not shortened to %s: %v", want, err)
	}
	err = syncv1alpha1.CheckWhere("oracle", "x = 1")
	if err == nil || !strings.Contains(err.Error(), `source.driver "oracle" is not sqlserver or mysql`) {
		t.Errorf("an unknown driver: %v", err)
	}
}

// TestTSQLStatementWords: every word that starts a T-SQL statement (or
// runs one elsewhere) is refused bare, in any case, and accepted quoted.
func TestTSQLStatementWords(t *testing.T) {
	words := []string{"DELETE", "INSERT", "UPDATE", "MERGE", "EXEC", "EXECUTE", "DROP", "CREATE", "ALTER",
		"TRUNCATE", "GRANT", "REVOKE", "DENY", "BACKUP", "RESTORE", "SHUTDOWN", "KILL", "DBCC", "BULK",
		"OPENROWSET", "OPENDATASOURCE", "OPENQUERY", "WAITFOR", "DECLARE", "SET", "USE", "WRITETEXT",
		"UPDATETEXT", "RECONFIGURE", "CHECKPOINT", "SETUSER", "REVERT", "BEGIN", "COMMIT", "ROLLBACK", "SAVE"}
	for _, w := range words {
		for _, spelled := range []string{w, strings.ToLower(w), strings.ToUpper(w[:1]) + strings.ToLower(w[1:])} {
			in := "x = 1 " + spelled + " y"
			err := syncv1alpha1.CheckWhere(ms, in)
			if err == nil || !strings.Contains(err.Error(), "a T-SQL statement word at character 7 ("+fmt.Sprintf("%q", spelled)+")") ||
				!strings.Contains(err.Error(), "write it in brackets: ["+spelled+"]") {
				t.Errorf("%q: %v", in, err)
			}
			for _, quoted := range []string{"[" + spelled + "] = 1", `"` + spelled + `" = 1`, "x = '" + spelled + "'", "x_" + spelled + " = 1"} {
				if err := syncv1alpha1.CheckWhere(ms, quoted); err != nil {
					t.Errorf("%q: %v", quoted, err)
				}
			}
			// MySQL needs a ';' to start a statement: the words are names there.
			if w != "OPENROWSET" && w != "OPENQUERY" && w != "OPENDATASOURCE" {
				if err := syncv1alpha1.CheckWhere(my, spelled+" = 1"); err != nil {
					t.Errorf("mysql %q: %v", spelled, err)
				}
			}
		}
	}
}

// FuzzCheckWhere: the checker never panics, and what it accepts, placed in
// Sisporta's statement, has balanced parentheses, no comment, no ';' and no
// INTO outside literals, by a scan written independently of the checker
// (for MySQL under both readings of backslashes, which sql_mode decides).
func FuzzCheckWhere(f *testing.F) {
	for _, c := range fragmentCases {
		f.Add(c.in, c.dialect != "sqlserver")
	}
	for _, s := range []string{"'a\\'' OR 1=1 #'", "\"a\\\"\"", "`a``b`", "[a]]]", "x--\x01", "x-- ", "x/**/", "'\\\\'#'", "1=1)#(", "a'b'c'd'"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, mysql bool) {
		d := ms
		if mysql {
			d = my
		}
		for _, query := range []bool{false, true} {
			check, wrapped := syncv1alpha1.CheckWhere, "SELECT 1 FROM t WHERE ("+s+")"
			if query {
				check, wrapped = syncv1alpha1.CheckQuery, "SELECT * FROM ("+s+") AS q"
			}
			err := check(d, s)
			if err != nil {
				var fe *syncv1alpha1.FragmentError
				if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > len(s) || fe.Char > 0 && fe.Token == "" {
					t.Fatalf("%q: a malformed error %#v", s, err)
				}
				continue
			}
			if s == "" {
				continue
			}
			modes := []bool{false}
			if mysql {
				modes = []bool{true, false}
			}
			var outsides []string
			for _, backslashes := range modes {
				outside, problem := simpleScan(wrapped, mysql, backslashes)
				if problem != "" {
					t.Fatalf("accepted %q (query %v, mysql %v), but in %q with backslash escapes %v: %s", s, query, mysql, wrapped, backslashes, problem)
				}
				outsides = append(outsides, outside)
			}
			if len(outsides) == 2 && outsides[0] != outsides[1] {
				t.Fatalf("accepted %q, whose tokens depend on sql_mode:\n%q\n%q", s, outsides[0], outsides[1])
			}
		}
	})
}

var intoWord = regexp.MustCompile(`(?i)(^|[^\p{L}\p{N}\p{M}_$@#])into([^\p{L}\p{N}\p{M}_$@#]|$)`)

// simpleScan walks sql byte by byte, blanking literals and quoted names,
// and reports the first thing that would let it be more than one read.
func simpleScan(sql string, mysql, backslashes bool) (outside string, problem string) {
	var out []byte
	depth := 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		var closer byte
		switch {
		case c == '\'':
			closer = '\''
		case c == '"':
			closer = '"'
		case c == '`' && mysql:
			closer = '`'
		case c == '[' && !mysql:
			closer = ']'
		}
		if closer != 0 {
			escapes := backslashes && mysql && c != '`'
			j := i + 1
			for ; j < len(sql); j++ {
				if escapes && sql[j] == '\\' {
					j++
					continue
				}
				if sql[j] == closer {
					if j+1 < len(sql) && sql[j+1] == closer {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return "", fmt.Sprintf("a literal opened at byte %d never closes", i)
			}
			out = append(out, ' ')
			i = j
			continue
		}
		rest := sql[i:]
		switch {
		case c == ';':
			return "", "a ';' outside literals"
		case strings.HasPrefix(rest, "/*"):
			return "", "a /* comment"
		case mysql && c == '#':
			return "", "a # comment"
		case !mysql && strings.HasPrefix(rest, "--"):
			return "", "a -- comment"
		case mysql && strings.HasPrefix(rest, "--") && (len(rest) == 2 || rest[2] <= 0x20 || rest[2] >= 0x7f):
			return "", "a -- comment"
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return "", "a ')' closes more than was opened"
			}
		}
		out = append(out, c)
	}
	if depth != 0 {
		return "", "unbalanced parentheses"
	}
	if intoWord.Match(out) {
		return "", "INTO outside literals"
	}
	return string(out), ""
}
