package cph

import (
	"encoding/json"
	"strings"
)

// Canonical returns a deep copy of r in which every spelling of the same purchase is written the
// same way, for hashing: the derived idempotency key and the order fingerprint of internal/tasks
// are sums of its JSON (CanonicalJSON), so that the same purchase submitted twice, once as
// "is_auto_pay": 0 and once without it, buys once. r itself is never changed: the body sent to the
// API stays exactly as its author wrote it. Canonical of nil is nil.
//
// It normalises toward the short form: a field that equals the API's documented default is
// dropped rather than filled in, so that a request already written without its defaults
// canonicalises to itself and keeps the key it derived before this normalisation existed; only
// requests that spell a default out change key, to that of their short form. The rules, each from
// the API reference (docs/cph-api.md, "The purchase body") or validate.go:
//
//   - extend_param.is_auto_pay 0 and is_auto_renew 0 (the defaults) are dropped;
//   - extend_param.enterprise_project_id "0" (the default enterprise project, like "") is dropped;
//   - nics[].ipv6_enable false (the default) is dropped;
//   - public_ip.count 1 (the default) is dropped; 0 (no EIP) stays;
//   - ports[].internet_accessible is "true" when it is "true" in any case and "false" otherwise,
//     which is all the API reads from it (Validate accepts any string); "true" and "false" stay;
//   - an empty list (ports, nics, public_ip.ids) is dropped, as absent.
//
// Nothing else changes: required fields have no default to drop, list order is kept (the first
// NIC is the primary one), and a field the API may ignore in context (band_width_id of a dedicated
// bandwidth, say) is kept, since no page documents that it is ignored.
func (r *PurchaseRequest) Canonical() *PurchaseRequest {
	if r == nil {
		return nil
	}
	c := *r
	c.Count = cloneInt(r.Count)
	c.PhoneCountPerIP = cloneInt(r.PhoneCountPerIP)

	c.Ports = nil
	if len(r.Ports) > 0 {
		c.Ports = make([]Port, len(r.Ports))
		for i, p := range r.Ports {
			c.Ports[i] = Port{Name: p.Name, ListenPort: cloneInt(p.ListenPort)}
			if p.InternetAccessible != nil {
				v := "false"
				if strings.EqualFold(*p.InternetAccessible, "true") {
					v = "true"
				}
				c.Ports[i].InternetAccessible = &v
			}
		}
	}

	if e := r.ExtendParam; e != nil {
		c.ExtendParam = &ExtendParam{
			ChargingMode:        cloneInt(e.ChargingMode),
			PeriodType:          cloneInt(e.PeriodType),
			PeriodNum:           cloneInt(e.PeriodNum),
			IsAutoPay:           dropDefault(e.IsAutoPay, 0),
			IsAutoRenew:         dropDefault(e.IsAutoRenew, 0),
			EnterpriseProjectID: e.EnterpriseProjectID,
		}
		if e.EnterpriseProjectID == defaultEnterpriseProject {
			c.ExtendParam.EnterpriseProjectID = ""
		}
	}

	c.NICs = nil
	if len(r.NICs) > 0 {
		c.NICs = make([]NIC, len(r.NICs))
		for i, n := range r.NICs {
			c.NICs[i] = NIC{SubnetID: n.SubnetID}
			if n.IPv6Enable != nil && *n.IPv6Enable {
				c.NICs[i].IPv6Enable = new(true)
			}
			if n.IPv6Bandwidth != nil {
				bw := *n.IPv6Bandwidth
				c.NICs[i].IPv6Bandwidth = &bw
			}
		}
	}

	if ip := r.PublicIP; ip != nil {
		c.PublicIP = &PublicIP{Count: dropDefault(ip.Count, 1)}
		if len(ip.IDs) > 0 {
			c.PublicIP.IDs = append([]string(nil), ip.IDs...)
		}
		if ip.EIP != nil {
			eip := *ip.EIP
			c.PublicIP.EIP = &eip
		}
	}

	c.PhoneDataVolume = cloneVolume(r.PhoneDataVolume)
	c.ServerShareDataVolume = cloneVolume(r.ServerShareDataVolume)

	if b := r.BandWidth; b != nil {
		c.BandWidth = &BandWidth{
			BandWidthID:         b.BandWidthID,
			BandWidthSize:       cloneInt(b.BandWidthSize),
			BandWidthChargeMode: cloneInt(b.BandWidthChargeMode),
			BandWidthShareType:  cloneInt(b.BandWidthShareType),
		}
	}
	return &c
}

// CanonicalJSON is the JSON encoding of r.Canonical(), the bytes that identify the purchase r
// makes; "null" for a nil r. encoding/json writes struct fields in declaration order and omits
// what is empty, so the source's field order, whitespace and defaults do not show.
func (r *PurchaseRequest) CanonicalJSON() []byte {
	// A PurchaseRequest holds only strings, ints, bools, slices and pointers to them: it always
	// encodes.
	b, err := json.Marshal(r.Canonical())
	if err != nil {
		panic("cph: a purchase request does not encode: " + err.Error())
	}
	return b
}

// defaultEnterpriseProject is the id the API gives the default enterprise project; "" (absent)
// means the same.
const defaultEnterpriseProject = "0"

// cloneInt returns a copy of *p in fresh memory, or nil.
func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	return new(*p)
}

// dropDefault returns nil when *p is def (or p is nil), and a copy of *p otherwise.
func dropDefault(p *int, def int) *int {
	if p == nil || *p == def {
		return nil
	}
	return new(*p)
}

// cloneVolume returns a deep copy of v, or nil.
func cloneVolume(v *DataVolume) *DataVolume {
	if v == nil {
		return nil
	}
	return &DataVolume{VolumeType: v.VolumeType, Size: cloneInt(v.Size)}
}
