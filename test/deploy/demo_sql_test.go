package deploy

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/test/testenv"
)

// The demo's SQL files load by hand with the mysql client whatever its
// default character set (they say SET NAMES utf8mb4 themselves): a door
// emoji in a dealer's name stays one.
func TestDemoSQLLoadsByHand(t *testing.T) {
	client, err := exec.LookPath("mariadb")
	if err != nil {
		if client, err = exec.LookPath("mysql"); err != nil {
			t.Fatal("neither the mariadb nor the mysql client is installed: install mariadb-client")
		}
	}
	db := testenv.NewDB(t, "demo")
	cfg, err := mysql.ParseDSN(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	for _, file := range []string{"hack/demo/seed.sql", "hack/demo/changes.sql"} {
		f, err := os.Open(repoPath(t, file))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(client, "--default-character-set=latin1", "-h", host, "-P", port, "-u", cfg.User, db.Name)
		if cfg.Passwd != "" {
			cmd.Env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
		}
		cmd.Stdin = f
		out, err := cmd.CombinedOutput()
		_ = f.Close()
		if err != nil {
			t.Fatalf("%s by hand: %v\n%s", file, err, out)
		}
	}
	if n := db.Count(t, "Revendedores", "HEX(Nome) LIKE '%F09F9AAA%'"); n != 1 {
		t.Fatalf("%d dealer names keep the door emoji, want 1", n)
	}
}
