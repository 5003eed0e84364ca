// Package inventory collects hypervisor hosts, virtual machines, datastores
// and firewalls from several sources (vCenter, libvirt, nftables and a
// declared YAML file) into one normalised Report, derives vHealth-style
// findings, renders the report as a table, JSON, CSV or a self-contained HTML
// page, compares two reports (Diff) and compares declared with discovered
// state (Check).
//
// inventory must not import backup, tlscheck, cmd or internal/config, nor
// cobra or viper: cmd/ops builds a Config, calls Collect and Render, and maps
// the returned errors to exit codes (ErrPartial → 3; CheckResult.Failed /
// DiffResult.Differ → 1). Of ops it uses only internal/bytesize,
// internal/fielderr, internal/output (its tables escape what sources report),
// internal/secret, internal/strictyaml (reading declared files, like the
// config loader) and internal/suggest (did you mean).
package inventory
