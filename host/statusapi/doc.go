// Package statusapi serves the agent's status on a local unix socket and
// reads it back for `staticlet status`. It owns the wire format: the JSON
// document `staticlet status -o json` prints, with per pod its phase,
// readiness, restarts and container states, and per manifest file its
// verdict and reasons.
//
// IO: creates the socket's folder (0700) and the socket (0600, so only root
// reads pod and manifest details), serves HTTP on it, and dials it.
package statusapi
