package queue_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

// aclUser creates a Redis ACL user of the test's own, deleted at the end,
// and returns a URL logging in as it with password.
func aclUser(t *testing.T, admin redis.UniversalClient, password string) (name, userURL string) {
	t.Helper()
	ctx := context.Background()
	name = "sisporta_t_" + testenv.Random(6)
	if err := admin.Do(ctx, "ACL", "SETUSER", name, "on", ">"+password, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER (the test Redis must be 6 or later): %v", err)
	}
	t.Cleanup(func() {
		if err := admin.Do(context.Background(), "ACL", "DELUSER", name).Err(); err != nil {
			t.Errorf("ACL DELUSER %s: %v", name, err)
		}
	})
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	return name, u.String()
}

func whoami(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	who, err := rdb.Do(context.Background(), "ACL", "WHOAMI").Text()
	if err != nil {
		t.Fatalf("ACL WHOAMI: %v", err)
	}
	return who
}

func TestConnectLogsInAsTheURLsUser(t *testing.T) {
	ctx := context.Background()
	admin, _, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() }) // after the users' deletion: cleanups run last first
	adminUser := whoami(t, admin)

	for _, password := range []string{"pw-" + testenv.Random(8), "p@ss:w/rd%?#&=" + testenv.Random(4)} {
		name, userURL := aclUser(t, admin, password)
		rdb, opt, err := queue.Connect(ctx, userURL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := whoami(t, rdb); got != name || got == adminUser {
			t.Errorf("Connect logged in as %q, want %q", got, name)
		}
		_ = rdb.Close()
		// asynq's server and inspector connect from the options, not from
		// the client Connect returns: they must log in as the user too.
		o, ok := opt.(asynq.RedisClientOpt)
		if !ok || o.Username != name || o.Password != password {
			t.Fatalf("options %T lose the user or password", opt)
		}
		fromOpt := opt.MakeRedisClient().(redis.UniversalClient)
		if got := whoami(t, fromOpt); got != name {
			t.Errorf("the asynq options log in as %q, want %q", got, name)
		}
		insp := asynq.NewInspectorFromRedisClient(fromOpt)
		if _, err := insp.Queues(); err != nil {
			t.Errorf("asynq as %s: %v", name, err)
		}
		_ = fromOpt.Close()

		// A wrong password fails, saying whose, without either password.
		wrong := "wrong-" + testenv.Random(8)
		u, _ := url.Parse(userURL)
		u.User = url.UserPassword(name, wrong)
		_, _, err = queue.Connect(ctx, u.String())
		if err == nil {
			t.Fatalf("a wrong password for %s was accepted", name)
		}
		msg := err.Error()
		if strings.Contains(msg, wrong) || strings.Contains(msg, password) || strings.Contains(msg, url.QueryEscape(password)) {
			t.Errorf("the error shows a password: %s", msg)
		}
		if !strings.Contains(msg, `refused the credentials of user "`+name+`"`) || !strings.Contains(msg, "WRONGPASS") {
			t.Errorf("the error does not say the credentials of %s were refused: %s", name, msg)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	const pw = "s3cr3t-pw"
	cases := []struct {
		url  string
		want asynq.RedisConnOpt
	}{
		{"redis://app:" + pw + "@redis.example:6380/2", asynq.RedisClientOpt{Addr: "redis.example:6380", Username: "app", Password: pw, DB: 2}},
		{"redis://:" + pw + "@redis.example:6379/0", asynq.RedisClientOpt{Addr: "redis.example:6379", Password: pw}},
		{"redis://default:" + pw + "@redis.example", asynq.RedisClientOpt{Addr: "redis.example:6379", Password: pw}},
		{"redis://redis.example:6379/", asynq.RedisClientOpt{Addr: "redis.example:6379"}},
		{"redis://[::1]/3", asynq.RedisClientOpt{Addr: "[::1]:6379", DB: 3}},
		{"redis-socket://app:" + pw + "@/run/redis.sock?db=4", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis.sock", Username: "app", Password: pw, DB: 4}},
		{"redis-sentinel://watch:" + pw + "@s1:26379,s2:26379?master=mymaster", asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379"}, SentinelUsername: "watch", SentinelPassword: pw}},
	}
	for _, c := range cases {
		got, err := queue.ParseRedisURL(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if g, ok := got.(asynq.RedisFailoverClientOpt); ok {
			w := c.want.(asynq.RedisFailoverClientOpt)
			if g.MasterName != w.MasterName || strings.Join(g.SentinelAddrs, ",") != strings.Join(w.SentinelAddrs, ",") || g.SentinelUsername != w.SentinelUsername || g.SentinelPassword != w.SentinelPassword {
				t.Errorf("%s: got %+v, want %+v", c.url, g, w)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.url, got, c.want)
		}
	}
	tlsOpt, err := queue.ParseRedisURL("rediss://app:" + pw + "@redis.example:6380/1")
	if o, ok := tlsOpt.(asynq.RedisClientOpt); err != nil || !ok || o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.example" || o.Username != "app" || o.DB != 1 {
		t.Errorf("rediss: %+v %v", tlsOpt, err)
	}

	bad := map[string]string{
		"http://app:" + pw + "@redis.example:6379":          `scheme "http" is not supported`,
		"redis://app:" + pw + "@redis.example:6379/zero":    `the path must be a database number, such as /0: "zero" is not a database number`,
		"redis://app:" + pw + "@redis.example:6379/-1":      `"-1" is not a database number`,
		"redis://app:" + pw + "@redis.example:port/0":       `invalid port ":port" after host`,
		"redis://app:" + pw + "@/0":                         "no host",
		"redis-socket://app:" + pw + "@/run/r.sock?db=x":    `db must be a database number`,
		"redis-socket://app:" + pw + "@":                    "no socket path",
		"redis-sentinel://app:" + pw + "@s1:26379":          "a sentinel URL needs ?master=name",
		"redis://app:" + pw + "\x7f@redis.example:6379/0":   "invalid control character in URL",
		"redis://app:" + pw + "@redis.example:6379/0%zz":    `invalid URL escape "%zz"`,
		"redis://app:" + pw + "@redis.example:6379/0 /\x01": "invalid control character in URL",
	}
	for u, want := range bad {
		_, err := queue.ParseRedisURL(u)
		var ue *queue.RedisURLError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want redis://[[user]:password@]host[:port][/db]") {
			t.Errorf("%q: got %v, want a RedisURLError containing %q", u, err, want)
		} else if strings.Contains(err.Error(), pw) {
			t.Errorf("%q: the error shows the password: %v", u, err)
		}
	}
}
