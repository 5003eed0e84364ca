// Package logging builds ops' slog logger: text for people, JSON for
// machines, always on stderr, with a last line of defence against secrets.
//
// logging imports only the standard library and internal/secret: not backup,
// tlscheck, inventory, cmd, internal/config, viper or cobra.
package logging
