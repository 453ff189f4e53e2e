package importrules

// Groups of packages, as patterns relative to the module path: "x" is the
// package x, "x/..." is x and every package below it.
var (
	// Domain holds the codecs and the domain packages: wire formats,
	// VRRP (vrrp/... holds its advert sender process, vrrp/sendproc, and
	// the codec of that process's messages, vrrp/sendwire), addresses on
	// interfaces, the proxy, health checks, the notify hooks, the clock,
	// the error of a refused configuration field, the counter of
	// rate-limited warnings, the raw system calls of the idle loops, the
	// close of a served listener when its context is done, and the
	// opening of files read again while the daemon runs.
	Domain = []string{
		"proxyproto/...",
		"vrrp/...",
		"notify/...",
		"netsetup/...",
		"balancer/...",
		"healthcheck/...",
		"amqpcheck/...",
		"checktls/...",
		"checkconn/...",
		"httpcheck/...",
		"mqttcheck/...",
		"stompcheck/...",
		"streamcheck/...",
		"backend/...",
		"internal/clock/...",
		"internal/fielderr/...",
		"internal/logcount/...",
		"internal/rawio/...",
		"internal/ctxclose/...",
		"internal/regfile/...",
	}
	// Config is the configuration file's model.
	Config = []string{"config/..."}
	// Control is the control socket: its protocol, server and client.
	Control = []string{"control/..."}
	// Daemon wires the parts into the running daemon.
	Daemon = []string{"daemon/..."}
	// Migrate translates keepalived, HAProxy and ipvsadm files into the
	// config file (rmqlb import).
	Migrate = []string{"migrate/..."}
	// CLIDoc writes a program's help, manual page and completions from
	// its description: text only.
	CLIDoc = []string{"internal/clidoc/..."}
	// Commands are the module's programs: the daemon binary and the tools
	// (demo lab, benchmark and its load generator, the standalone proxy
	// the benchmark can run, and the Debian package's builder).
	Commands = []string{"cmd/...", "bench/cmd/...", "balancer/internal/proxyd", "internal/cmd/..."}
	// TestSupport is code for tests and tools only: the netns lab and the
	// integration tests, real RabbitMQ nodes, the benchmark's lab and
	// loads, the test tools of CI, the metrics checks of the tests, a
	// fake service manager, the slack of wall-clock bounds, the
	// certificates of the tests, the free ports they name and the
	// loopback servers the checks' tests talk to.
	TestSupport = []string{
		"integration/...",
		"bench/...",
		"internal/rabbittest/...",
		"internal/importrules/...",
		"internal/testgate/...",
		"internal/metricstest/...",
		"internal/sdnotifytest/...",
		"internal/wallclock/...",
		"internal/testpki/...",
		"internal/freeport/...",
		"internal/testserver/...",
	}
)

// Rule forbids the packages matching From to depend, directly or through
// other packages, on any package matching Forbid.
type Rule struct {
	From, Forbid []string
	// Why is the reason, printed with every violation.
	Why string
}

// Rules is rmqlb's import graph.
//
//	from                         must not depend on
//	domain (codecs, vrrp, ...)   config, control, daemon, migrate, commands, test support
//	config                       control, daemon, migrate, commands, test support
//	control                      config, daemon, migrate, commands, test support
//	daemon                       commands, test support
//	migrate                      control, daemon, commands, test support
//	clidoc                       every other group of the product
//	any package                  commands
//	product (all of the above,   test support
//	  cmd/rmqlb)
//
// Commands other than cmd/rmqlb and test support may import any package
// that is not a command.
var Rules = []Rule{
	{
		From:   Domain,
		Forbid: join(Config, Control, Daemon, Migrate),
		Why:    "codecs and domain packages take their settings as values and know nothing of the config file, the control socket or the daemon",
	},
	{
		From:   Config,
		Forbid: join(Control, Daemon, Migrate),
		Why:    "the config model describes the daemon; it does not run or serve it",
	},
	{
		From:   Control,
		Forbid: join(Config, Daemon, Migrate),
		Why:    "the control socket carries snapshots of the parts, not the config model, and is served by the daemon, not the other way round",
	},
	{
		From:   Migrate,
		Forbid: join(Control, Daemon),
		Why:    "the importer writes a config file from other programs' files; it neither serves nor runs the daemon",
	},
	{
		From:   CLIDoc,
		Forbid: join(Domain, Config, Control, Daemon, Migrate),
		Why:    "the documentation writer formats a program's description; it knows nothing of what the program does",
	},
	{
		From:   []string{"..."},
		Forbid: Commands,
		Why:    "commands are leaves of the graph: what two programs share belongs in a package",
	},
	{
		From:   join(Domain, Config, Control, Daemon, Migrate, CLIDoc, []string{"cmd/rmqlb"}),
		Forbid: TestSupport,
		Why:    "test support is for tests and tools; the product must not carry it",
	},
}

// Known is every group: each package of the module must be in one of them.
var Known = join(Domain, Config, Control, Daemon, Migrate, CLIDoc, Commands, TestSupport)

func join(groups ...[]string) []string {
	var all []string
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}
