package control

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// Certificate expiries that rmqlb status points out: within
// certificateNotice a line in yellow, within certificateUrgent (or past)
// in red. The alert RmqlbTLSCertificateExpiresSoon fires at 14 days.
const (
	certificateNotice = 30 * 24 * time.Hour
	certificateUrgent = 7 * 24 * time.Hour
)

// certificateUse is one certificate and the backends whose checks met it:
// the check's own client certificate is that of every backend of a
// listener's check section.
type certificateUse struct {
	cert     healthcheck.Certificate
	backends []string
}

// certificateUses groups the certificates of checks by role, subject and
// expiry, in the order the checks first name them.
func certificateUses(checks []healthcheck.BackendStatus) []certificateUse {
	var uses []certificateUse
	for _, c := range checks {
		for _, cert := range c.Certificates {
			i := slices.IndexFunc(uses, func(u certificateUse) bool {
				return u.cert.Role == cert.Role && u.cert.Subject == cert.Subject && u.cert.NotAfter.Equal(cert.NotAfter)
			})
			if i < 0 {
				uses = append(uses, certificateUse{cert: cert})
				i = len(uses) - 1
			}
			uses[i].backends = append(uses[i].backends, c.Backend.String())
		}
	}
	return uses
}

// formatCertificates points out each TLS certificate of the checks that
// expires within certificateNotice (or has expired), one line each:
// `certificate expires in 12d (2026-12-18 10:00 UTC): broker CN=rmq1 of
// amqp/rmq1`. With verbose it lists every one in a table.
func formatCertificates(p *page, now time.Time, checks []healthcheck.BackendStatus, verbose bool) {
	uses := certificateUses(checks)
	blank := true
	for _, u := range uses {
		head, rest, ok := certificateNote(now, u.cert)
		if !ok {
			continue
		}
		if blank {
			p.printf("")
			blank = false
		}
		colour := yellow
		if u.cert.NotAfter.Sub(now) < certificateUrgent {
			colour = red
		}
		p.println(paint(head, colour), txt(rest+" of "+strings.Join(u.backends, ", ")))
	}
	if !verbose || len(uses) == 0 {
		return
	}
	p.printf("")
	tb := p.table("CERTIFICATE", "SUBJECT", "EXPIRES", "CHECKS OF")
	for _, u := range uses {
		tb.row(txt(string(u.cert.Role)), txt(u.cert.Subject), txt(u.cert.NotAfter.UTC().Format("2006-01-02 15:04 MST")+", "+expiry(now, u.cert.NotAfter)),
			txt(strings.Join(u.backends, ", ")))
	}
}

// CertificateNote says that c expires within 30 days of now, or has
// expired: "certificate expires in 12d (2026-12-18 10:00 UTC): broker
// CN=rmq1"; "" when it expires later.
func CertificateNote(now time.Time, c healthcheck.Certificate) string {
	head, rest, _ := certificateNote(now, c)
	return head + rest
}

// certificateNote is CertificateNote in two pieces, the first to be
// painted, and whether c expires within certificateNotice.
func certificateNote(now time.Time, c healthcheck.Certificate) (head, rest string, ok bool) {
	if c.NotAfter.Sub(now) >= certificateNotice {
		return "", "", false
	}
	return "certificate " + expiry(now, c.NotAfter), fmt.Sprintf(" (%s): %s %s", c.NotAfter.UTC().Format("2006-01-02 15:04 MST"), c.Role, c.Subject), true
}

// expiry says when at is from now: "expires in 12d", "expires in 5h0m",
// "expired 2d ago".
func expiry(now, at time.Time) string {
	d := at.Sub(now)
	if d < 0 {
		return "expired " + span(-d) + " ago"
	}
	return "expires in " + span(d)
}

// span writes d in whole days from two days on, else in hours and
// minutes.
func span(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}
