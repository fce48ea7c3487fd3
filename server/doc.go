// Package server wires a labd process by hand from its parts: the store
// (server/store), the HTTP API (server/httpapi), the lab gateway
// (server/gateway, on every replica, in front of the API on the same
// listener and alone on Config.GatewayListen), metrics, and, when
// Config.Controller is set, the leader-elected control plane: the Docker
// engine (server/docker), the lab controller (server/reconcile),
// CloudEvents delivery (server/eventsink), the outbox pruner and leader
// election (server/leader). It holds no rule of its own; cmd/labd reads
// the settings into a Config and calls New and Run.
//
// # Life
//
// New binds the listeners (access URLs name the gateway's port), opens
// the store (applying migrations) and builds every part; a failure closes
// what was opened, and an error in the configuration found only then
// (leader timings, sink URLs, a TLS certificate that does not load, a
// publish address) is a *ConfigError. With TLSCertFile and TLSKeyFile
// every listener serves HTTPS; ReloadTLS reads the files again, for new
// connections. Run serves the API at once on every replica and campaigns
// for leadership. While this replica leads, its work (controller,
// CloudEvents, pruner) runs as one group (internal/group): the first part
// to fail or return stops the others, and leader election starts the
// work again, in a new term, after a backoff.
//
// # Shutdown
//
// When Run's context ends it stops accepting connections, ends watch
// streams, lets requests in flight finish within ShutdownTimeout (then
// cuts them), writes the gateway's last batch of lab activity, and only
// then stops the leader's work: reconciles in
// flight drain, leadership is released so that a standby takes over
// within one retry period, and the store closes last. A failing HTTP
// server shuts the process down the same way, and Run returns its error.
package server
