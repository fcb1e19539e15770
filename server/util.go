package server

import (
	"errors"
	"net"
	"net/netip"
)

func asError(err error, target **Error) bool { return errors.As(err, target) }

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
