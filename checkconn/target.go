package checkconn

import (
	"net/netip"

	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// Validate reports what is wrong with the settings every check of a
// protocol shares: its address, a password without a user, and its TLS
// settings (tls nil: in clear). Each error is a *fielderr.Error named
// after the field's key in the configuration file.
func Validate(addr netip.AddrPort, user, password string, tls *checktls.Config) []error {
	var errs []error
	if !addr.IsValid() || addr.Port() == 0 {
		errs = append(errs, fielderr.New("addr", "must be ip:port"))
	}
	if password != "" && user == "" {
		errs = append(errs, fielderr.New("user", "is required with password"))
	}
	if tls != nil {
		errs = append(errs, tls.Validate()...)
	}
	return errs
}

// TLSFiles reads the TLS files of a check of addr (checktls.NewFiles), or
// returns nil for tls nil, a check in clear.
func TLSFiles(tls *checktls.Config, addr netip.AddrPort) (*checktls.Files, error) {
	if tls == nil {
		return nil, nil
	}
	return checktls.NewFiles(*tls, addr)
}
