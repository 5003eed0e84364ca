package inventory

import "time"

// NftablesSource reads the nftables ruleset of the host or of a named
// network namespace (needs CAP_NET_ADMIN). It reports one Firewall named
// after the namespace (or the host name) with vendor "netfilter", model
// "nftables" and the kernel release as version. Capabilities are derived
// from the ruleset: "stateful" when a rule matches ct state, "nat" when a
// nat chain or a nat/masquerade/redirect statement exists.
type NftablesSource struct {
	SourceName string
	Netns      string        // "" = the caller's namespace; NAME = /run/netns/NAME; or a path
	Wait       time.Duration // per-source timeout (0 = Options.Timeout)
}

var _ Source = (*NftablesSource)(nil)

func (s *NftablesSource) Name() string           { return s.SourceName }
func (s *NftablesSource) Type() string           { return TypeNftables }
func (s *NftablesSource) Timeout() time.Duration { return s.Wait }

// Endpoint is "netns:NAME" or "host".
func (s *NftablesSource) Endpoint() string {
	if s.Netns == "" {
		return "host"
	}
	return "netns:" + s.Netns
}
