// Package notify runs the notify hooks of a VRRP instance: programs that
// rmqlb starts on each state change of the instance, as keepalived's
// notify_master, notify_backup, notify_fault and notify_stop do.
//
// A hook is an argument vector run without a shell: argv[0] is an absolute
// path, the rest are its arguments. It gets the daemon's environment (PATH
// and the rest, without the variables by which systemd addresses the
// daemon's own process: NOTIFY_SOCKET, WATCHDOG_PID and the like) plus RMQLB_INSTANCE (the instance's name), RMQLB_STATE
// (MASTER, BACKUP, FAULT, or STOP when the instance stops), RMQLB_PREV_STATE
// (the state left: INIT, BACKUP, MASTER or FAULT), RMQLB_VIPS (the
// instance's virtual addresses as prefixes, separated by spaces),
// RMQLB_REASON (why the state changed) and RMQLB_PRIORITY (the instance's
// effective priority at the change, which keepalived passes to its generic
// notify script as the last argument). Its standard input is /dev/null,
// its working directory /, and its standard output and error are logged
// line by line (a bounded number of lines per run).
//
// A Runner owns the hooks of one instance: Notify queues a state change and
// returns at once, and one goroutine (Run) runs the hooks one at a time,
// strictly in the order of the changes. A slow hook delays the later hooks
// of its instance, never the instance itself; a change that finds the
// queue full takes the place of the last change still waiting, whose hook
// is dropped and counted, instead of waiting, so that the hook of the
// state the instance is in always runs, last. Each hook runs in a process
// group of its own and is bounded by its timeout: when it passes, the
// whole group is killed (SIGKILL), so that the children a hook
// left behind go too. A hook has finished when its process has exited and
// its output is closed; one whose background children keep the output
// open until the timeout is killed with them and counts as timed out.
//
// A hook is not run when CheckSafe finds it unsafe: the program, or a
// directory above it, may be changed by a user other than root and the
// daemon's own, who could then run commands with the daemon's privileges
// (keepalived makes the same check with enable_script_security). Such a
// run counts as an error.
//
// Test runs a hook once for the operator (rmqlb notify), through the same
// queue and the same code, and waits for its outcome and output; such a
// run is not counted, and gives its place in a full queue to a state
// change.
//
// Every run is counted by outcome (ok, failed for a non-zero exit status or
// a signal, timeout, error when it could not be started or was refused as
// unsafe, dropped) in
// Snapshot and in the metric rmqlb_notify_runs_total.
package notify
