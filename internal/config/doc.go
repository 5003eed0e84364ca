// Package config loads ops' configuration: a YAML file, OPS_* environment
// variables and command-line flags, in that order of precedence, merged by
// viper and decoded strictly into the typed structs the domain packages own.
//
// Viper alone would silently drop environment variables for keys the file
// does not mention, cannot address list elements, and reports neither file
// lines nor typos. So the loader derives a schema from the structs and
//   - checks the file against it (unknown key → nearest valid key, wrong
//     type → what was expected, each with FILE:LINE),
//   - binds an environment variable to every key, including keys inside
//     map entries (OPS_STORAGE_TARGETS_OFFSITE_KEY) and list elements, which
//     are addressed by index or by their name (OPS_BACKUP_JOBS_0_THREADS or
//     OPS_BACKUP_JOBS_APP_THREADS),
//   - remembers where every value came from, so a validation error can point
//     at the file line, the variable or the flag that set it.
//
// config owns viper (with cmd/ops, the only package that imports it). It must
// not import backup, tlscheck, inventory or cmd (the structs come in as an
// any; field errors as *fielderr.Error) nor cobra (flags come in as pflag
// flags). Of ops it uses only internal/bytesize, internal/fielderr,
// internal/suggest (did you mean) and internal/strictyaml (parsing the file:
// one document, syntax errors at FILE:LINE; shared with inventory's declared
// files).
package config
