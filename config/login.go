package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/rmqlb/rmqlb/amqpcheck"
)

// Login identifies whom the check logs in as: a digest of its type, user,
// password, vhost, SASL mechanism and TLS client certificate, "" for a
// check that does not log in (tcp, none, an amqp check in mode
// handshake, which stops before the login). Two backends whose checks have
// the same Login are refused alike by the nodes of one RabbitMQ cluster,
// which keeps users, permissions, vhosts and their limits across its
// nodes: a refusal that one node gives while another lets the same login
// in is that node's own. The digest keeps the password out of what
// carries it.
func (c Check) Login() string {
	if !c.Type.speaksProtocol() || c.Type == CheckAMQP && c.Mode == amqpcheck.ModeHandshake {
		return ""
	}
	parts := []string{c.Type.String(), c.User, c.Password, c.VHost, string(c.Mechanism)}
	if c.TLS != nil {
		parts = append(parts, c.TLS.CertFile, c.TLS.KeyFile)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%q", parts))
	return hex.EncodeToString(sum[:8])
}
