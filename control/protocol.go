package control

import "encoding/json"

// Request is what a client sends: a command and its arguments.
type Request struct {
	// Command names what is asked: "status", or an operator action.
	Command string `json:"command"`
	// Args are the command's arguments, if any.
	Args []string `json:"args,omitempty"`
}

// Response is what the daemon answers. Exactly one of Error and Result is
// set.
type Response struct {
	// Error is the failure of the command, for a human.
	Error string `json:"error,omitempty"`
	// Result is the command's JSON result.
	Result json.RawMessage `json:"result,omitempty"`
}
