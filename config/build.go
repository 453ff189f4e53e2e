package config

import (
	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/httpcheck"
	"github.com/rmqlb/rmqlb/mqttcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/stompcheck"
	"github.com/rmqlb/rmqlb/streamcheck"
	"github.com/rmqlb/rmqlb/vrrp"
)

// This file builds each package's configuration from a resolved Config.
// The daemon uses these builders and nothing else, at start and on every
// reload, so that what runs is what the file says.

// VIPLabel is the tag that marks the addresses the daemon adds (see
// netsetup.VIPConfig.Label).
const VIPLabel = netsetup.DefaultLabel

// VRRPConfig returns the instance's vrrp.Config.
func (in *VRRPInstance) VRRPConfig() vrrp.Config {
	return vrrp.Config{
		Name:           in.Name,
		Interface:      in.Interface,
		VRID:           in.VRID,
		Priority:       in.Priority,
		Version:        in.Version,
		AdvertInterval: in.AdvertInterval,
		Preempt:        in.Preempt,
		PreemptDelay:   in.PreemptDelay,
		AuthPass:       in.AuthPass,
		Checksum:       in.Checksum,
		UnicastSrc:     in.UnicastSrc,
		UnicastPeers:   append(in.UnicastPeers[:0:0], in.UnicastPeers...),
		AllowedPeers:   append(in.AllowedPeers[:0:0], in.AllowedPeers...),

		MaxAdoptedInterval:   in.MaxAdoptedInterval,
		LateAdvertsTolerated: in.LateAdvertsTolerated,
		VIPs:                 append(in.VIPs[:0:0], in.VIPs...),
	}
}

// NotifyConfig returns the instance's notify hooks.
func (in *VRRPInstance) NotifyConfig() notify.Config {
	c := in.Notify
	for _, argv := range []*[]string{&c.Master, &c.Backup, &c.Fault, &c.Stop} {
		if *argv != nil {
			*argv = append((*argv)[:0:0], *argv...)
		}
	}
	return c
}

// VIPConfig returns the configuration of the instance's VIP set.
func (in *VRRPInstance) VIPConfig() netsetup.VIPConfig {
	return netsetup.VIPConfig{
		Interface: in.Interface,
		Label:     VIPLabel,
		VIPs:      append(in.VIPs[:0:0], in.VIPs...),
		GARP:      in.GARP,
	}
}

// BalancerConfig returns the listener's balancer.Config. A listener bound
// to a VIP of c closes its sessions at once when it stops
// (GracefulTimeout < 0): the VIP moves to the new master on stop, so those
// clients' packets, their FINs and RSTs included, can no longer reach this
// host and the sessions could only hold their brokers' connections open.
func (c *Config) BalancerConfig(l *Listener) balancer.Config {
	bc := balancer.Config{
		Name:                   l.Name,
		Bind:                   l.Bind,
		Policy:                 l.Policy,
		AllBackups:             l.AllBackups,
		PersistenceTimeout:     l.PersistenceTimeout,
		PersistenceNetmask:     l.PersistenceNetmask,
		PersistenceNetmask6:    l.PersistenceNetmask6,
		PersistenceMaxClients:  l.PersistenceMaxClients,
		MaxConn:                l.MaxConn,
		MaxConnPerClient:       l.MaxConnPerClient,
		AllowedClients:         l.AllowedClients,
		DeniedClients:          l.DeniedClients,
		ConnectTimeout:         l.ConnectTimeout,
		Retries:                l.Retries,
		ShutdownSessionsOnDown: l.OnMarkedDown == ShutdownSessions,
		ShutdownBackupsOnUp:    l.OnMarkedUp == ShutdownBackupSessions,
		IdleTimeout:            l.IdleTimeout,
		HandshakeTimeout:       l.HandshakeTimeout,
		FinTimeout:             l.FinTimeout,
		KeepAlive:              l.KeepAlive,
		TCPUserTimeout:         l.TCPUserTimeout,
		GracefulTimeout:        l.GracefulTimeout,
		CloseSpread:            l.CloseSpread,
		LogSessions:            l.LogSessions,
	}
	if c.VIPOwned(l.Bind.Addr()) {
		bc.GracefulTimeout = -1
	}
	for _, b := range l.Backends {
		bc.Backends = append(bc.Backends, balancer.BackendConfig{
			Name:          b.ID.Name,
			Address:       b.Address,
			Weight:        b.Weight,
			MaxConn:       b.MaxConn,
			Backup:        b.Backup,
			ProxyProtocol: b.ProxyProtocol,
			Checked:       b.Check.Type != CheckNone,
		})
	}
	return bc
}

// AMQPConfig returns the amqpcheck.Config of an AMQP check.
func (ck *Check) AMQPConfig() amqpcheck.Config {
	return amqpcheck.Config{
		Addr:           ck.Address,
		Mode:           ck.Mode,
		VHost:          ck.VHost,
		Cluster:        ck.Cluster,
		User:           ck.User,
		Password:       ck.Password,
		ProxyProtocol:  ck.ProxyProtocol,
		Mechanism:      ck.Mechanism,
		TLS:            ck.TLS,
		OnLoginRefused: ck.OnLoginRefused,
	}
}

// HTTPConfig returns the httpcheck.Config of an HTTP check.
func (ck *Check) HTTPConfig() httpcheck.Config {
	return httpcheck.Config{
		Addr:          ck.Address,
		Method:        ck.Method,
		Path:          ck.Path,
		Expect:        ck.Expect,
		User:          ck.User,
		Password:      ck.Password,
		RefusedFails:  ck.OnLoginRefused == amqpcheck.RefusedDown,
		ProxyProtocol: ck.ProxyProtocol,
		TLS:           ck.TLS,
	}
}

// MQTTConfig returns the mqttcheck.Config of an MQTT check.
func (ck *Check) MQTTConfig() mqttcheck.Config {
	return mqttcheck.Config{
		Addr:          ck.Address,
		User:          ck.User,
		Password:      ck.Password,
		RefusedFails:  ck.OnLoginRefused == amqpcheck.RefusedDown,
		ProxyProtocol: ck.ProxyProtocol,
		TLS:           ck.TLS,
	}
}

// STOMPConfig returns the stompcheck.Config of a STOMP check.
func (ck *Check) STOMPConfig() stompcheck.Config {
	return stompcheck.Config{
		Addr:          ck.Address,
		VHost:         ck.VHost,
		User:          ck.User,
		Password:      ck.Password,
		RefusedFails:  ck.OnLoginRefused == amqpcheck.RefusedDown,
		ProxyProtocol: ck.ProxyProtocol,
		TLS:           ck.TLS,
	}
}

// StreamConfig returns the streamcheck.Config of a stream check.
func (ck *Check) StreamConfig() streamcheck.Config {
	return streamcheck.Config{
		Addr:          ck.Address,
		User:          ck.User,
		Password:      ck.Password,
		VHost:         ck.VHost,
		Cluster:       ck.Cluster,
		RefusedFails:  ck.OnLoginRefused == amqpcheck.RefusedDown,
		ProxyProtocol: ck.ProxyProtocol,
		TLS:           ck.TLS,
	}
}

// validateBuilt builds every package's configuration from c and records
// what its Validate refuses at the key and line each field comes from:
// the rules of a listener are the balancer's, those of a VRRP instance
// vrrp's, netsetup's (its VIPs and gratuitous ARPs) and notify's, each
// written there once (a check's are placed as its section is resolved,
// see checkOf). The daemon builds these same configurations, so this is
// also the guarantee that a file Parse accepts starts. It runs beside the
// resolver's own problems, so that one reading of a file lists them all.
func (r *resolver) validateBuilt(c *Config) {
	for i := range c.Listeners {
		l := &c.Listeners[i]
		r.fields(parsePath(l.Field), c.BalancerConfig(l).Validate(), nil)
	}
	for i := range c.VRRP {
		in := &c.VRRP[i]
		p := parsePath(in.Field)
		r.fields(p, in.VRRPConfig().Validate(), nil)
		r.fields(p, in.VIPConfig().Validate(), map[string]path{"vips": p.k("virtual_ipaddress")})
		r.fields(p.k("notify"), in.NotifyConfig().Validate(), nil)
	}
}
