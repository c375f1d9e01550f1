// Package api is the controller's operator HTTP API and its client: the
// hosts' states and history for readers, and the operator's commands
// (maintenance, confirm, release) for operators, behind bearer tokens read
// from files (docs/api.md).
//
// It only presents what the controller's loop knows and hands operators'
// commands to it as decision inputs: it must never judge a host, touch the
// world or write the journal itself, and it never logs or echoes a token.
package api
