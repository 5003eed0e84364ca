// Package fielderr owns the one error type every config section returns for
// a bad value: the key path of the value (backup.jobs[0].threads) and what is
// wrong with it. internal/config recognises it in a wrap chain and turns it
// into FILE:LINE, the environment variable or the flag that set the value.
//
// fielderr is a leaf: it must import nothing but the standard library (no
// ops package, no viper, no cobra), so that every domain package can use it.
package fielderr
