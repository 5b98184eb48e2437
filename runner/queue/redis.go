package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/redact"
)

// RedisURLForms is what a Redis URL may look like, for messages.
const RedisURLForms = "redis://[[user]:password@]host[:port][/db], rediss://… for TLS, redis-socket://[[user]:password@]/path?db=N or redis-sentinel://[[user]:password@]host:port[,host:port…]?master=name"

// Connect opens a Redis client for a redis:// or rediss:// URL (or
// redis-socket://path, or redis-sentinel://) and checks that it answers.
// A user name in the URL is used (Redis 6 ACLs). Errors never contain the
// URL's password.
func Connect(ctx context.Context, redisURL string) (redis.UniversalClient, asynq.RedisConnOpt, error) {
	if redisURL == "" {
		return nil, nil, fmt.Errorf("no Redis URL: set --redis-url or SISPORTA_REDIS_URL (redis://[[user]:password@]host:6379/0)")
	}
	opt, err := ParseRedisURL(redisURL)
	if err != nil {
		return nil, nil, err
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, fmt.Errorf("unsupported Redis URL")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		if redis.IsAuthError(err) || redis.IsPermissionError(err) {
			return nil, nil, fmt.Errorf("Redis at %s refused %s: %w: check the user name and password in the Redis URL", RedisAddr(opt), redisUser(opt), redact.Err(err, redisURL))
		}
		return nil, nil, fmt.Errorf("Redis at %s does not answer: %w", RedisAddr(opt), redact.Err(err, redisURL))
	}
	return rdb, opt, nil
}

// ParseRedisURL reads a Redis URL into asynq's connection options. Unlike
// asynq.ParseRedisURI it keeps the user name of redis://user:password@host
// (Redis 6 ACLs); the user "default" is left out, as AUTH password means
// that user on Redis 6 and later and works on Redis 5 too. Errors are a
// *RedisURLError. The forms:
//
//	redis://[[user]:password@]host[:port][/db]       port 6379 by default
//	rediss://…                                        the same over TLS, the certificate checked against host
//	redis-socket://[[user]:password@]/path/redis.sock[?db=N]
//	redis-sentinel://[[user]:password@]host:port[,host:port…]?master=name
//
// For sentinels the user and password are the sentinels' own, as asynq
// reads them. Errors never contain the password.
func ParseRedisURL(s string) (asynq.RedisConnOpt, error) {
	invalid := func(format string, args ...any) error {
		return &RedisURLError{Reason: redact.String(fmt.Sprintf(format, args...), s)}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL it quotes
		}
		return nil, invalid("%v", err)
	}
	var user, password string
	if u.User != nil {
		user = u.User.Username()
		password, _ = u.User.Password()
		if user == "default" {
			user = ""
		}
	}
	switch u.Scheme {
	case "redis", "rediss":
		host := u.Hostname()
		if host == "" {
			return nil, invalid("no host")
		}
		port := u.Port()
		if port == "" {
			port = "6379"
		}
		db, err := redisDB(strings.Trim(u.Path, "/"))
		if err != nil {
			return nil, invalid("the path must be a database number, such as /0: %v", err)
		}
		opt := asynq.RedisClientOpt{Addr: net.JoinHostPort(host, port), Username: user, Password: password, DB: db}
		if u.Scheme == "rediss" {
			opt.TLSConfig = &tls.Config{ServerName: host}
		}
		return opt, nil
	case "redis-socket":
		if u.Path == "" {
			return nil, invalid("no socket path")
		}
		db, err := redisDB(u.Query().Get("db"))
		if err != nil {
			return nil, invalid("db must be a database number: %v", err)
		}
		return asynq.RedisClientOpt{Network: "unix", Addr: u.Path, Username: user, Password: password, DB: db}, nil
	case "redis-sentinel":
		master := u.Query().Get("master")
		if master == "" {
			return nil, invalid("a sentinel URL needs ?master=name")
		}
		if u.Host == "" {
			return nil, invalid("no sentinel address")
		}
		return asynq.RedisFailoverClientOpt{MasterName: master, SentinelAddrs: strings.Split(u.Host, ","), SentinelUsername: user, SentinelPassword: password}, nil
	}
	return nil, invalid("scheme %q is not supported", u.Scheme)
}

// RedisURLError says why a Redis URL cannot be used. Its message never
// contains the URL's password.
type RedisURLError struct {
	// Reason is what is wrong, without the forms a Redis URL may take.
	Reason string
}

func (e *RedisURLError) Error() string {
	return fmt.Sprintf("the Redis URL is not valid (want %s): %s", RedisURLForms, e.Reason)
}

func redisDB(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("%q is not a database number", s)
	}
	return db, nil
}

// redisUser names the user a connection option logs in as, for messages.
func redisUser(opt asynq.RedisConnOpt) string {
	var user, password string
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		user, password = o.Username, o.Password
	case asynq.RedisFailoverClientOpt:
		user, password = o.SentinelUsername, o.SentinelPassword
	}
	switch {
	case user != "":
		return fmt.Sprintf("the credentials of user %q", user)
	case password != "":
		return "the password of the default user"
	}
	return "a connection without a password"
}

// RedisAddr returns the host:port of a connection option, for messages.
func RedisAddr(opt asynq.RedisConnOpt) string {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return o.Addr
	case asynq.RedisFailoverClientOpt:
		return "sentinel master " + o.MasterName
	case asynq.RedisClusterClientOpt:
		return fmt.Sprint(o.Addrs)
	}
	return "the configured address"
}
