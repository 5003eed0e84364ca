//go:build !linux

package inventory

import (
	"context"
	"errors"
)

// Collect fails: nftables exists only on Linux.
func (s *NftablesSource) Collect(ctx context.Context) (Records, error) {
	return Records{}, errors.New("nftables is only available on Linux")
}
