package tlsrpt

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"testing"
)

var base64Std = base64.StdEncoding

func base64Len(n int) int { return base64Std.EncodedLen(n) }

// FuzzDecode: any input is either reports or an ErrMalformed, never a
// panic, and what decodes sums and renders.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{googleFile, msFile, mailFile, rfcFile, pfFile} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"policies":[{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":9223372036854775807,"total-failure-session-count":9223372036854775807}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		s := Sum(append(rs, rs...))
		for _, p := range s.Policies {
			if p.Successful < 0 || p.Failed < 0 {
				t.Fatalf("negative sum %+v", p)
			}
		}
		if err := WriteTable(io.Discard, s); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(io.Discard, s); err != nil {
			t.Fatal(err)
		}
	})
}
