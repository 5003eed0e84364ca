package backup

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
)

// ParseRecipients parses age recipients (age1…).
func ParseRecipients(list []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for i, s := range list {
		r, err := parseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("encrypt_to[%d]: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRecipient(s string) (age.Recipient, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not an age recipient (age1…): %w", s, err)
	}
	return r, nil
}

// LoadIdentities reads an age identity file (as written by age-keygen).
func LoadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("age identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("age identity file %s: %w", path, err)
	}
	return ids, nil
}
