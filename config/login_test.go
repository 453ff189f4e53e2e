package config

import (
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/checktls"
)

// TestCheckLogin: two checks have the same Login when they log in alike,
// whatever else differs (address, schedule); a change to whom they log in
// as changes it; checks that do not log in have none; the password is not
// in it.
func TestCheckLogin(t *testing.T) {
	base := Check{Type: CheckAMQP, Mode: amqpcheck.ModeLogin, User: "rmqlb-check", Password: "s3cret-password", VHost: "/", Mechanism: "PLAIN"}
	login := base.Login()
	if login == "" || strings.Contains(login, "s3cret") {
		t.Fatalf("Login %q: want a digest without the password", login)
	}
	same := base
	same.Field, same.Schedule.Rise, same.Cluster = "listeners[0].backends[1].check", 5, "prod"
	if same.Login() != login {
		t.Errorf("a check differing in neither credentials nor type: Login %q, want %q", same.Login(), login)
	}
	for name, change := range map[string]func(*Check){
		"type":      func(c *Check) { c.Type = CheckStream },
		"user":      func(c *Check) { c.User = "other" },
		"password":  func(c *Check) { c.Password = "other" },
		"vhost":     func(c *Check) { c.VHost = "prod" },
		"mechanism": func(c *Check) { c.Mechanism = "EXTERNAL" },
		"tls": func(c *Check) {
			c.TLS = &checktls.Config{CertFile: "/etc/rmqlb/check.pem", KeyFile: "/etc/rmqlb/check.key"}
		},
		"fields run together": func(c *Check) {
			c.User, c.Password = "rmqlb-check\x00s3cret-password", ""
		},
	} {
		c := base
		change(&c)
		if c.Login() == login {
			t.Errorf("%s changed: Login unchanged", name)
		}
	}
	for _, typ := range []CheckType{CheckTCP, CheckNone} {
		c := base
		c.Type = typ
		if got := c.Login(); got != "" {
			t.Errorf("a %s check: Login %q, want none", typ, got)
		}
	}
	// An amqp handshake stops before the login: its pass lets no login in.
	hs := base
	hs.Mode = amqpcheck.ModeHandshake
	if got := hs.Login(); got != "" {
		t.Errorf("an amqp check in mode handshake: Login %q, want none", got)
	}
}
