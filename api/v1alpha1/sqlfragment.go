package v1alpha1

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sisporta embeds two pieces of user SQL in the statements it sends to the
// source: source.where inside "WHERE (" … ")" and source.query inside
// "FROM (" … ") AS sisporta_q". CheckWhere and CheckQuery make sure such a
// fragment stays inside its parentheses and inside one read: they tokenize
// it as the source's server would (string literals, quoted identifiers and
// comments of its dialect) and refuse, outside literals and quoted names,
//
//   - every comment (--, #, /* */, MySQL's executable /*! */ and optimizer
//     hints /*+ */): a comment can hide the rest of Sisporta's statement;
//   - ';', which ends a statement;
//   - a ')' closing more than the fragment opened (it would close Sisporta's
//     parenthesis and let the rest run outside it), a '(' never closed, and
//     an unterminated literal, quoted name or comment;
//   - INTO (SELECT … INTO writes a table, a file or variables);
//   - words that write or lock per dialect (sqlfragmentWords below);
//   - placeholders that would take Sisporta's own parameters (MySQL's '?',
//     T-SQL's @variables);
//   - for source.query, anything but a SELECT (or, on MySQL, WITH … SELECT).
//
// What it cannot judge is what a function does: a stored function that
// writes is called like any other. The source login must only be able to
// read (README, "A first mirrored table"); this check keeps the fragment
// from turning Sisporta's read into something else.
//
// MySQL's lexing depends on the server's sql_mode: with NO_BACKSLASH_ESCAPES
// a backslash inside a string is an ordinary character, and with
// ANSI_QUOTES "…" is a quoted name without escapes. The two readings of a
// literal only differ where a backslash stands before the literal's own
// quote character, so that is refused (write the quote doubled: 'it''s'),
// and every accepted fragment splits into the same tokens under every mode.
// Likewise a T-SQL "…" is a quoted name or, with QUOTED_IDENTIFIER OFF, a
// string: both end at the same quote.
//
// The fragment is read as UTF-8, the character set of Sisporta's MySQL
// connections (go-sql-driver's utf8mb4) and of T-SQL batches (UTF-16 on the
// wire). A DSN forcing a multi-byte legacy character set (charset=gbk, sjis,
// big5, cp932) would let the server read a non-ASCII character and a
// following backslash or backtick as one character: do not set one.

// FragmentError is a problem in source.where or source.query. Its message
// names the field, what is wrong and where (in characters, counted from 1),
// quotes the offending text and says what to do.
// +kubebuilder:object:generate=false
type FragmentError struct {
	// Field is "source.where" or "source.query".
	Field string
	// Offset is the problem's byte offset in the fragment; Char is the same
	// place counted in characters from 1, or 0 when the whole fragment is
	// at fault.
	Offset, Char int
	// Token is the offending text, shortened.
	Token string
	// What is wrong, why it matters, and what to do.
	What, Why, Fix string
}

func (e *FragmentError) Error() string {
	if e.Char == 0 {
		return fmt.Sprintf("%s %s: %s; %s", e.Field, e.What, e.Why, e.Fix)
	}
	return fmt.Sprintf("%s: %s at character %d (%q): %s; %s", e.Field, e.What, e.Char, e.Token, e.Why, e.Fix)
}

// CheckWhere checks source.where, a boolean expression in the dialect of
// driver, before Sisporta places it in "WHERE (" … ")". An empty where means
// no filter and is accepted. It returns a *FragmentError.
func CheckWhere(driver SourceDriver, s string) error {
	if s == "" {
		return nil
	}
	return checkFragment(driver, "source.where", s, false)
}

// CheckQuery checks source.query, a SELECT in the dialect of driver, before
// Sisporta reads it as a derived table, "FROM (" … ") AS sisporta_q". An
// empty query is refused: call it only when the entity has one. It returns
// a *FragmentError.
func CheckQuery(driver SourceDriver, s string) error {
	return checkFragment(driver, "source.query", s, true)
}

type tokKind uint8

const (
	tokWord   tokKind = iota // a bare word: keyword, name or number
	tokQuoted                // a string literal or a quoted name
	tokPunct                 // any other single character
)

type token struct {
	kind       tokKind
	start, end int // byte offsets in the fragment
	match      int // for '(' the index of its ')' token
}

type fragment struct {
	mysql bool // else T-SQL
	field string
	s     string
	toks  []token
}

func checkFragment(driver SourceDriver, field, s string, query bool) error {
	f := &fragment{field: field, s: s}
	switch driver {
	case SourceMySQL:
		f.mysql = true
	case SourceSQLServer:
	default:
		return &FragmentError{Field: field, What: "cannot be checked", Why: fmt.Sprintf("source.driver %q is not sqlserver or mysql, and the rules depend on the dialect", driver), Fix: "set source.driver"}
	}
	if strings.TrimLeft(s, " \t\n\r\f\v") == "" {
		what, fix := "is blank", "remove source.where or write a condition such as Active = 1"
		if query {
			what, fix = "is empty", "write a SELECT, or read a table with source.table"
		}
		return &FragmentError{Field: field, What: what, Why: "that is not SQL", Fix: fix}
	}
	lexErr := f.lex()
	var err *FragmentError
	if len(f.toks) > 0 && query {
		err = f.checkQueryStart(lexErr == nil)
	}
	if err == nil {
		err = f.checkWords()
	}
	if lexErr != nil && (err == nil || lexErr.Offset < err.Offset) {
		err = lexErr
	}
	if err != nil {
		return err
	}
	return nil
}

func (f *fragment) fail(at, end int, what, why, fix string) *FragmentError {
	tok, n := f.s[at:end], 0
	for i := range tok {
		if n == 24 {
			tok = tok[:i] + "…"
			break
		}
		n++
	}
	return &FragmentError{Field: f.field, Offset: at, Char: utf8.RuneCountInString(f.s[:at]) + 1, Token: tok, What: what, Why: why, Fix: fix}
}

// isSpace is the whitespace both servers skip between tokens. Other
// characters (non-ASCII spaces included) are never taken for whitespace, so
// the checker at worst splits words the server would not.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// wordRune says whether r continues a bare word. MySQL also lets '$' and
// every non-ASCII character into names, T-SQL '@', '#' and '$'; here
// non-ASCII characters that are not letters, digits or marks end a word,
// which can only make the checker see more words than the server does.
func (f *fragment) wordRune(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		c := byte(r)
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			!f.mysql && (c == '@' || c == '#')
	default:
		return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
	}
}

// lex splits the fragment into tokens, stopping at the first problem a
// tokenizer sees: a comment, ';', a stray ')', an unterminated literal, a
// byte that is not UTF-8, a NUL, or (after the whole fragment) a '(' never
// closed.
func (f *fragment) lex() *FragmentError {
	s := f.s
	var open []int // indexes of unclosed '(' tokens
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
			continue
		case c == 0:
			return f.fail(i, i+1, "a NUL character", "it can cut Sisporta's statement short", "remove it (write CHAR(0) if you mean the character)")
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return f.fail(i, i+1, "a byte that is not UTF-8", "the statement is sent as UTF-8 text", "write the fragment in UTF-8")
			}
		}
		if e := f.comment(i); e != nil {
			return e
		}
		start := i
		switch c {
		case '\'':
			end, e := f.literal(i, '\'', f.mysql)
			if e != nil {
				return e
			}
			f.toks = append(f.toks, token{kind: tokQuoted, start: start, end: end})
			i = end
			continue
		case '"':
			end, e := f.literal(i, '"', f.mysql)
			if e != nil {
				return e
			}
			f.toks = append(f.toks, token{kind: tokQuoted, start: start, end: end})
			i = end
			continue
		case '`', '[':
			if c == '`' && f.mysql || c == '[' && !f.mysql {
				end, e := f.literal(i, c, false)
				if e != nil {
					return e
				}
				f.toks = append(f.toks, token{kind: tokQuoted, start: start, end: end})
				i = end
				continue
			}
		case ';':
			return f.fail(i, i+1, "a ';'", "';' ends a statement, and Sisporta's read must stay a single statement", "remove it (a ';' inside quotes, as in 'a;b', is fine)")
		case '(':
			open = append(open, len(f.toks))
		case ')':
			if len(open) == 0 {
				return f.fail(i, i+1, "a ')' without a matching '('", "it would close the parenthesis Sisporta puts around "+f.field+" and let what follows run outside it", "remove it, or add the '(' it closes")
			}
			f.toks[open[len(open)-1]].match = len(f.toks)
			open = open[:len(open)-1]
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !f.wordRune(r) {
			f.toks = append(f.toks, token{kind: tokPunct, start: i, end: i + n})
			i += n
			continue
		}
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !f.wordRune(r) || r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		f.toks = append(f.toks, token{kind: tokWord, start: start, end: i})
	}
	if len(open) > 0 {
		t := f.toks[open[0]]
		return f.fail(t.start, t.end, "a '(' that is never closed", "parentheses must balance inside "+f.field, "add the matching ')'")
	}
	return nil
}

// comment refuses a comment starting at i.
func (f *fragment) comment(i int) *FragmentError {
	s := f.s
	next := func(k int) byte {
		if i+k < len(s) {
			return s[i+k]
		}
		return 0
	}
	why := "comments are not allowed (they could hide the rest of Sisporta's statement)"
	switch {
	case s[i] == '#' && f.mysql:
		return f.fail(i, i+1, "a comment starts", why, "remove it (a '#' inside quotes, as in LIKE '%#%', is fine)")
	case s[i] == '-' && next(1) == '-':
		if !f.mysql {
			return f.fail(i, i+2, "a comment starts", why+"; in T-SQL '--' starts one even without a space", "remove it (to subtract a negative number, write a - (-1))")
		}
		// MySQL and MariaDB start a comment at "--" followed by whitespace or
		// a control character (the end of the text counts); any other byte
		// that is not printable ASCII is refused too, to be safe.
		if c := next(2); c <= ' ' || c >= 0x7f {
			end := i + 2
			if i+2 < len(s) {
				_, n := utf8.DecodeRuneInString(s[i+2:])
				end += n
			}
			return f.fail(i, end, "a comment starts", why, "remove it (\"--\" directly followed by a digit, as in a--1, is a double minus and fine)")
		}
	case s[i] == '/' && next(1) == '*':
		end := i + 2
		switch {
		case next(2) == '!' || next(2) == '+':
			end++
		case (next(2) == 'M' || next(2) == 'm') && next(3) == '!':
			end += 2
		}
		w := why
		switch s[i+2 : end] {
		case "!", "M!", "m!":
			if f.mysql {
				w += "; MySQL and MariaDB even run the text of /*! … */ as SQL"
			}
		case "+":
			if f.mysql {
				w += "; optimizer hints /*+ … */ are comments too"
			}
		}
		return f.fail(i, end, "a comment starts", w, "remove it")
	}
	return nil
}

// literal reads a string literal or quoted name opened at i by q and
// returns the offset after it. A doubled closing character stands for
// itself. With backslashes, a backslash escapes the next character (MySQL
// strings) — except the quote itself, whose escaping depends on sql_mode.
func (f *fragment) literal(i int, q byte, backslashes bool) (int, *FragmentError) {
	s, closer := f.s, q
	if q == '[' {
		closer = ']'
	}
	for j := i + 1; j < len(s); {
		c := s[j]
		switch {
		case c == 0:
			return 0, f.fail(j, j+1, "a NUL character", "it can cut Sisporta's statement short", "remove it (write CHAR(0) if you mean the character)")
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && n == 1 {
				return 0, f.fail(j, j+1, "a byte that is not UTF-8", "the statement is sent as UTF-8 text", "write the fragment in UTF-8")
			}
			j += n
		case c == '\\' && backslashes:
			if j+1 < len(s) && s[j+1] == q {
				return 0, f.fail(j, j+2, "a backslash before a quote", fmt.Sprintf("whether \\%c escapes the quote depends on the server's sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), so where the string ends is uncertain", q), fmt.Sprintf("double the quote instead: %c%c", q, q))
			}
			j++ // the escaped character, if any, is read next as an ordinary one
			if j < len(s) && s[j] == '\\' {
				j++ // an escaped backslash
			}
		case c == closer:
			if j+1 < len(s) && s[j+1] == closer {
				j += 2
				continue
			}
			return j + 1, nil
		default:
			j++
		}
	}
	what, fix := "a string that is never closed", fmt.Sprintf("close it with %c (and double a quote inside it: 'it''s')", closer)
	if q == '`' || q == '[' || q == '"' && !f.mysql {
		what, fix = "a quoted name that is never closed", fmt.Sprintf("close it with %c (and double a %c inside it)", closer, closer)
	}
	return 0, f.fail(i, len(s), what, "the rest of Sisporta's statement would be read into it", fix)
}

func (f *fragment) text(t token) string { return f.s[t.start:t.end] }

func (f *fragment) punct(k int, c byte) bool {
	return k < len(f.toks) && f.toks[k].kind == tokPunct && f.s[f.toks[k].start] == c
}

// word says whether token k is a bare word spelling kw (upper case ASCII).
// Spellings a server might fold to kw count too (ſ for S, ı for I, K for K).
func (f *fragment) word(k int, kw string) bool {
	if k >= len(f.toks) || f.toks[k].kind != tokWord {
		return false
	}
	// In 1.e5DELETE the word e5DELETE continues the number 1.
	afterNumber := k >= 2 && f.punct(k-1, '.') && f.toks[k-2].kind == tokWord &&
		f.toks[k-2].end == f.toks[k-1].start && f.toks[k-1].end == f.toks[k].start &&
		f.s[f.toks[k-2].start] >= '0' && f.s[f.toks[k-2].start] <= '9'
	for _, n := range wordNames(f.text(f.toks[k]), afterNumber) {
		if strings.EqualFold(n, kw) || strings.ToUpper(n) == kw {
			return true
		}
	}
	return false
}

// wordNames returns the names a bare word may stand for. A word starting
// with a digit may be a number followed directly by a name (T-SQL reads
// 1DELETE as 1 then DELETE, 0xDECLARE as 0xDEC then LARE): the remainders
// after the plausible number prefixes are names too. So are those after a
// leading '$' (T-SQL money, $1DELETE) and, for a word continuing a number
// after its decimal point, after an exponent.
func wordNames(w string, afterNumber bool) []string {
	names := []string{w}
	if w == "" {
		return names
	}
	digits := func(k int, ok func(byte) bool) int {
		for k < len(w) && ok(w[k]) {
			k++
		}
		return k
	}
	dec := func(c byte) bool { return c >= '0' && c <= '9' }
	hex := func(c byte) bool { return dec(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	bin := func(c byte) bool { return c == '0' || c == '1' }
	switch {
	case w[0] == '$':
		return append(names, wordNames(w[1:], false)...)
	case afterNumber && (w[0] == 'e' || w[0] == 'E'):
		return append(names, w[digits(1, dec):])
	case !dec(w[0]):
		return names
	}
	k := digits(0, dec)
	names = append(names, w[k:])
	if k < len(w) && (w[k] == 'e' || w[k] == 'E') {
		names = append(names, w[digits(k+1, dec):])
	}
	if len(w) > 1 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X') {
		names = append(names, w[digits(2, hex):])
	}
	if len(w) > 1 && w[0] == '0' && (w[1] == 'b' || w[1] == 'B') {
		names = append(names, w[digits(2, bin):])
	}
	return names
}

// tsqlStatementWords are refused as bare words in T-SQL: SQL Server needs no
// ';' between statements, so each of them could start a second statement
// should anything ever get past the parenthesis checks. Every one is a
// reserved word of T-SQL, so no valid expression uses it unquoted: a column
// called Set is written [Set] anyway. The one legitimate read use lost is
// the MERGE join hint (INNER MERGE JOIN); leave hints to the optimizer.
//
// GO is not here: it is the batch separator of client tools (sqlcmd, SSMS),
// not T-SQL; go-mssqldb sends the text as one batch, in which the server
// reads GO as a name (and Go can be a column). Words that cannot write
// (IF, WHILE, PRINT, RAISERROR, FETCH, used by OFFSET … FETCH NEXT) stay
// allowed.
var tsqlStatementWords = map[string]string{
	"DELETE":         "starts a statement that deletes rows",
	"INSERT":         "starts a statement that inserts rows",
	"UPDATE":         "starts a statement that changes rows",
	"MERGE":          "starts a statement that changes rows",
	"TRUNCATE":       "starts a statement that empties a table",
	"BULK":           "starts BULK INSERT, which loads a file into a table",
	"WRITETEXT":      "starts a statement that writes a text column",
	"UPDATETEXT":     "starts a statement that changes a text column",
	"EXEC":           "runs a procedure or any SQL text",
	"EXECUTE":        "runs a procedure or any SQL text",
	"OPENROWSET":     "runs a query through a new connection (to this server too), where it can write",
	"OPENDATASOURCE": "runs a query through a new connection (to this server too), where it can write",
	"OPENQUERY":      "runs a query on a linked server, where it can write",
	"CREATE":         "starts a statement that changes the schema",
	"ALTER":          "starts a statement that changes the schema or the server",
	"DROP":           "starts a statement that drops objects",
	"GRANT":          "starts a statement that changes permissions",
	"REVOKE":         "starts a statement that changes permissions",
	"DENY":           "starts a statement that changes permissions",
	"BACKUP":         "starts a backup",
	"RESTORE":        "starts a restore",
	"SHUTDOWN":       "stops the server",
	"KILL":           "ends other sessions",
	"DBCC":           "runs maintenance commands, some of which repair or shrink",
	"RECONFIGURE":    "applies server configuration",
	"CHECKPOINT":     "forces the database's pages to disk",
	"USE":            "switches the session's database",
	"SET":            "changes session options or variables",
	"DECLARE":        "declares variables, the start of a script",
	"WAITFOR":        "holds the statement open",
	"SETUSER":        "changes the identity the session runs as",
	"REVERT":         "changes the identity the session runs as",
	"BEGIN":          "starts a transaction or a block, nesting Sisporta's read transaction",
	"COMMIT":         "ends Sisporta's read transaction",
	"ROLLBACK":       "ends Sisporta's read transaction",
	"SAVE":           "sets a savepoint in Sisporta's read transaction",
}

// mysqlLockingWords are refused as bare words on MySQL, where a statement
// can only start after a ';' (go-sql-driver also sends one statement unless
// multiStatements is set), so statement words such as HANDLER, CALL or DO
// need no refusal: what is left to refuse are the clauses of a SELECT that
// write or lock, and the functions that advance a sequence (MariaDB). LOCK
// and PROCEDURE are reserved words, so no valid expression uses them
// unquoted. FOR, UPDATE, SHARE, NEXT and VALUE are refused only in the
// pairs below, as they have other uses (SUBSTRING(s FROM 1 FOR 3)).
var mysqlLockingWords = map[string]string{
	"LOCK":      "LOCK IN SHARE MODE locks the rows it reads on the source, blocking the ERP's writes",
	"PROCEDURE": "a PROCEDURE clause runs a procedure over the result",
}

// checkWords refuses INTO, the dialect's writing and locking words, and
// placeholders.
func (f *fragment) checkWords() *FragmentError {
	quote := func(w string) string {
		if f.mysql {
			return "`" + w + "`"
		}
		return "[" + w + "]"
	}
	for k, t := range f.toks {
		w := f.text(t)
		if t.kind == tokPunct {
			switch {
			case f.mysql && w == "?":
				return f.fail(t.start, t.end, "a '?'", "'?' is a parameter placeholder, and Sisporta binds its own parameters to them", "write the value instead (a '?' inside quotes is fine)")
			}
			continue
		}
		if t.kind != tokWord {
			continue
		}
		if !f.mysql && w[0] == '@' && (len(w) == 1 || w[1] != '@') {
			return f.fail(t.start, t.end, "a variable", "Sisporta's statement declares no variables (its own parameters are @p1, @p2, …)", "write the value instead (system functions such as @@SPID are fine)")
		}
		switch {
		case f.word(k, "INTO"):
			return f.fail(t.start, t.end, "the word INTO", "SELECT … INTO writes (a table, a file or variables), and Sisporta only reads the source", "remove it; if it names a column or table, quote it: "+quote(w))
		case f.word(k, "NEXT") && f.word(k+1, "VALUE"):
			return f.fail(t.start, f.toks[k+1].end, "NEXT VALUE FOR", "it advances a sequence, which writes to the source", "remove it")
		}
		if f.mysql {
			switch {
			case f.word(k, "FOR") && (f.word(k+1, "UPDATE") || f.word(k+1, "SHARE")):
				return f.fail(t.start, f.toks[k+1].end, "a locking clause", "it locks the rows it reads on the source, blocking the ERP's writes", "remove it")
			case (f.word(k, "NEXTVAL") || f.word(k, "SETVAL")) && f.punct(k+1, '('):
				return f.fail(t.start, t.end, "a sequence function", "it advances a sequence, which writes to the source", "remove it")
			}
			for kw, why := range mysqlLockingWords {
				if f.word(k, kw) {
					return f.fail(t.start, t.end, "the word "+kw, why, "remove it; if it names a column or table, quote it: "+quote(w))
				}
			}
			continue
		}
		for kw, why := range tsqlStatementWords {
			if f.word(k, kw) {
				return f.fail(t.start, t.end, "a T-SQL statement word", fmt.Sprintf("%s %s, and SQL Server needs no ';' before a statement", kw, why), "remove it; if it names a column or table, write it in brackets: "+quote(w))
			}
		}
	}
	return nil
}

// checkQueryStart refuses a query that is not a SELECT: it must start with
// SELECT, or on MySQL with WITH name AS (…)[, …] SELECT, possibly inside
// parentheses ((SELECT …) UNION (SELECT …)). The WITH clause is only walked
// when the parentheses are known to balance.
func (f *fragment) checkQueryStart(balanced bool) *FragmentError {
	k := 0
	for f.punct(k, '(') {
		k++
	}
	if k == len(f.toks) {
		return nil // only '(': the lexer says what is wrong
	}
	t := f.toks[k]
	why := "source.query is read as a derived table and must be one SELECT"
	// The start must be SELECT or WITH in plain ASCII, as the CRD's rule
	// checks too; no folding here, this is what lets a query in.
	first := asciiUpper(f.text(t))
	switch {
	case t.kind == tokWord && first == "SELECT":
		return nil
	case t.kind == tokWord && first == "WITH" && !f.mysql:
		return f.fail(t.start, t.end, "a WITH clause", "SQL Server does not allow WITH inside a derived table, which is how Sisporta reads source.query", "write each common table expression as a subquery in FROM instead")
	case t.kind == tokWord && first == "WITH":
		if !balanced {
			return nil
		}
		return f.checkWith(k + 1)
	}
	return f.fail(t.start, t.end, "a query that does not start with SELECT", why+" (or, on MySQL, WITH … SELECT)", "start it with SELECT")
}

// checkWith walks WITH [RECURSIVE] name [(columns)] AS (…) [, …] from
// token k and requires SELECT after it: MySQL allows a WITH clause before
// UPDATE and DELETE too.
func (f *fragment) checkWith(k int) *FragmentError {
	bad := func(k int, what string) *FragmentError {
		if k >= len(f.toks) {
			k = len(f.toks) - 1 // the end: point at the last token
		}
		at, end := f.toks[k].start, f.toks[k].end
		return f.fail(at, end, what, "a WITH clause is name AS (SELECT …), more of those separated by commas, then the SELECT", "write WITH name AS (SELECT …) SELECT …")
	}
	if f.word(k, "RECURSIVE") {
		k++
	}
	for {
		if k >= len(f.toks) || f.toks[k].kind == tokPunct {
			return bad(k, "a WITH clause without a name")
		}
		k++
		if f.punct(k, '(') {
			k = f.toks[k].match + 1
		}
		if !f.word(k, "AS") {
			return bad(k, "a WITH clause without AS")
		}
		k++
		if !f.punct(k, '(') {
			return bad(k, "a WITH clause without its (SELECT …)")
		}
		k = f.toks[k].match + 1
		if f.punct(k, ',') {
			k++
			continue
		}
		break
	}
	if k < len(f.toks) && f.toks[k].kind == tokWord && asciiUpper(f.text(f.toks[k])) == "SELECT" {
		return nil
	}
	if k >= len(f.toks) {
		return bad(k, "a WITH clause not followed by SELECT")
	}
	t := f.toks[k]
	return f.fail(t.start, t.end, "a WITH clause followed by something other than SELECT", "a WITH clause may precede UPDATE or DELETE too, and source.query must only read", "follow it with SELECT")
}

// asciiUpper upper-cases ASCII letters only: what lets a query in is
// compared strictly.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
