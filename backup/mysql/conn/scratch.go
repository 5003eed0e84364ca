package conn

import (
	"crypto/rand"
	"encoding/hex"
)

// ScratchTag is a random tag (8 hex digits) for the names ops gives the
// objects it creates on a server for a while: the restore test's
// ops_verify_<tag>_<db>, --replace's temporary copies, the replay's
// ledger.
func ScratchTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
