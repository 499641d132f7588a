package admin

import "errors"

// ErrNotLoopback is returned by Server.Listen for an address other hosts
// could reach while Options.AllowRemote is false: the listener has no
// authentication yet.
var ErrNotLoopback = errors.New("admin: refusing a non-loopback listen address without allow_remote")

// ErrListening is returned by a second Server.Listen.
var ErrListening = errors.New("admin: already listening")

// ErrNotListening is returned by Server.ListenerFile before Listen or Serve
// (or for a listener that is not TCP).
var ErrNotListening = errors.New("admin: not listening on a TCP socket")
