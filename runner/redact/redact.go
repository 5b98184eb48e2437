// Package redact keeps secrets out of error messages and logs: DSNs and
// Redis URLs carry passwords, and drivers sometimes echo what they parse.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Error is an error whose message has had secrets removed. It keeps the
// chain of wrapped errors for errors.Is and errors.As, but its message is
// only ever the redacted one.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// Err returns err with every secret removed from its message. Secrets are
// whole connection strings; their passwords are removed too.
func Err(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := String(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	return &Error{msg: msg, err: err}
}

// userinfo matches the password of URL-shaped strings: scheme://user:pass@
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]*@`)

// keyword matches password=... in key/value connection strings.
var keyword = regexp.MustCompile(`(?i)((?:password|pwd)\s*=\s*)("[^"]*"|'[^']*'|[^;&\s]*)`)

// String removes secrets from s: each secret and each password found in it,
// then anything that still looks like a password in a URL or key=value pair.
func String(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, p := range Passwords(sec) {
			if len(p) >= 3 {
				s = strings.ReplaceAll(s, p, "xxxxx")
			}
		}
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	s = userinfo.ReplaceAllString(s, "${1}xxxxx@")
	return keyword.ReplaceAllString(s, "${1}xxxxx")
}

// mysqlDSN matches the user:password@ part of a go-sql-driver DSN.
var mysqlDSN = regexp.MustCompile(`^[^:@/]*:(.*)@[a-z]*\(`)

// Passwords extracts the passwords from a connection string of the forms
// Sisporta accepts: URLs (sqlserver://, redis://), go-sql-driver DSNs
// (user:pass@tcp(host)/db) and key=value strings (password=...).
func Passwords(conn string) []string {
	var out []string
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
			if esc := url.QueryEscape(p); esc != p {
				out = append(out, esc)
			}
		}
		for k, vs := range u.Query() {
			if strings.EqualFold(k, "password") {
				out = append(out, vs...)
			}
		}
	}
	if m := mysqlDSN.FindStringSubmatch(conn); m != nil && m[1] != "" {
		out = append(out, m[1])
	}
	for _, m := range keyword.FindAllStringSubmatch(conn, -1) {
		out = append(out, strings.Trim(m[2], `"'`))
	}
	return out
}
