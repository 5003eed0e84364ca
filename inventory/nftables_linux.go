package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Collect reads tables, chains (hook, priority, policy) and rule counts over
// netlink, in the source's network namespace.
func (s *NftablesSource) Collect(ctx context.Context) (Records, error) {
	var opts []nftables.ConnOption
	if s.Netns != "" {
		p := netnsPath(s.Netns)
		f, err := os.Open(p)
		if err != nil {
			return Records{}, fmt.Errorf("network namespace %q: %w", s.Netns, err)
		}
		defer func() { _ = f.Close() }()
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return Records{}, nftError("open netlink", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return Records{}, nftError("list tables", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return Records{}, nftError("list chains", err)
	}
	fw := Firewall{
		Name:         s.SourceName, // the source names the firewall (a host name would change with the machine)
		Vendor:       "netfilter",
		Model:        "nftables",
		Version:      kernelRelease(),
		Capabilities: []string{},
		Licenses:     []License{},
		Tables:       []Table{},
	}
	caps := map[string]bool{}
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return Records{}, err
		}
		tb := Table{Family: familyName(t.Family), Name: t.Name, Chains: []Chain{}}
		if sets, err := c.GetSets(t); err == nil {
			for _, st := range sets {
				if !st.Anonymous { // anonymous sets are rule literals ({80, 443})
					tb.Sets++
				}
			}
		}
		for _, ch := range chains {
			if ch.Table == nil || ch.Table.Name != t.Name || ch.Table.Family != t.Family {
				continue
			}
			rules, err := c.GetRules(t, ch)
			if err != nil {
				return Records{}, nftError(fmt.Sprintf("list rules of %s %s %s", tb.Family, t.Name, ch.Name), err)
			}
			x := chainInfo(t, ch, rules, caps)
			fw.Rules += x.Rules
			tb.Chains = append(tb.Chains, x)
		}
		fw.Tables = append(fw.Tables, tb)
	}
	for _, cp := range Capabilities {
		if caps[cp] {
			fw.Capabilities = append(fw.Capabilities, cp)
		}
	}
	return Records{Firewalls: []Firewall{fw}}, nil
}

// chainInfo describes one chain and notes the capabilities its rules use.
func chainInfo(t *nftables.Table, ch *nftables.Chain, rules []*nftables.Rule, caps map[string]bool) Chain {
	x := Chain{Name: ch.Name, Type: string(ch.Type), Rules: len(rules)}
	if ch.Hooknum != nil {
		x.Hook = hookName(t.Family, uint32(*ch.Hooknum))
	}
	if ch.Priority != nil {
		x.Priority = int(*ch.Priority)
	}
	if ch.Policy != nil && ch.Hooknum != nil {
		x.Policy = "accept"
		if *ch.Policy == nftables.ChainPolicyDrop {
			x.Policy = "drop"
		}
	}
	if ch.Type == nftables.ChainTypeNAT {
		caps["nat"] = true
	}
	for _, r := range rules {
		for _, e := range r.Exprs {
			switch e := e.(type) {
			case *expr.Ct:
				if e.Key == expr.CtKeySTATE {
					caps["stateful"] = true
				}
			case *expr.NAT, *expr.Masq, *expr.Redir:
				caps["nat"] = true
			}
		}
	}
	return x
}

func nftError(op string, err error) error {
	if errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("nftables %s: %w (needs CAP_NET_ADMIN: run as root)", op, err)
	}
	return fmt.Errorf("nftables %s: %w", op, err)
}

func netnsPath(ns string) string {
	if strings.Contains(ns, "/") {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyNetdev:
		return "netdev"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return fmt.Sprintf("family%d", f)
}

func hookName(f nftables.TableFamily, h uint32) string {
	switch f {
	case nftables.TableFamilyNetdev:
		switch h {
		case 0:
			return "ingress"
		case 1:
			return "egress"
		}
	case nftables.TableFamilyARP:
		switch h {
		case 0:
			return "input"
		case 1:
			return "output"
		case 2:
			return "forward"
		}
	default:
		switch h {
		case 0:
			return "prerouting"
		case 1:
			return "input"
		case 2:
			return "forward"
		case 3:
			return "output"
		case 4:
			return "postrouting"
		case 5:
			return "ingress"
		}
	}
	return fmt.Sprintf("hook%d", h)
}
