package redact

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactRemovesPasswordsOfEveryDSNForm(t *testing.T) {
	cases := []struct{ conn, secret string }{
		{"sqlserver://sisporta_ro:Pa55w0rd!@erp:1433?database=ERP", "Pa55w0rd!"},
		{"sqlserver://ro:p%40ss%3Aword@erp?database=ERP", "p@ss:word"},
		{"server=erp;user id=ro;password=Pa55w0rd;database=ERP", "Pa55w0rd"},
		{"sisporta:Pa55w0rd@tcp(mysql:3306)/mirror", "Pa55w0rd"},
		{"redis://:Pa55w0rd@redis:6379/0", "Pa55w0rd"},
		{"redis://default:Pa55w0rd@redis:6379/0", "Pa55w0rd"},
	}
	for _, c := range cases {
		msg := "dial failed for " + c.conn + " (password " + c.secret + ")"
		got := String(msg, c.conn)
		if strings.Contains(got, c.secret) {
			t.Errorf("%s: %q still shows the password", c.conn, got)
		}
		err := Err(errors.New(msg), c.conn)
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("Err: %q", err)
		}
	}
	// Unknown connection strings shaped like URLs lose their password too.
	if got := String("connect postgres://u:hunter2@db/x failed"); strings.Contains(got, "hunter2") {
		t.Errorf("%q", got)
	}
	base := errors.New("base")
	if !errors.Is(Err(base, "x"), base) {
		t.Error("redaction must keep the error chain")
	}
}
