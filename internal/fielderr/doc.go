// Package fielderr is the error a package's configuration check returns
// for a field it refuses: the field's name and what is wrong with its
// value. Each rule of a configuration is written once, in the package that
// owns the field (vrrp, netsetup, notify, balancer, healthcheck,
// amqpcheck); the configuration file's reader finds the fields of those
// errors (Split) and points at the file's key and line for each, instead
// of checking the rule a second time.
package fielderr
