package cph

import (
	"strings"
	"unicode/utf8"

	"cphpurchase/internal/strictjson"
)

// Validate checks r against every rule of the API reference (docs/cph-api.md, "The purchase body",
// with the value lists and bounds of rules.go) and returns every violation at once, in the order
// of the request's fields, with paths under "request." and messages that state the rule and the
// value given, e.g. "request.count: must be between 1 and 10, got 11". It checks only what the
// API documents: a request that passes can still be refused by the API (an unknown flavor, a
// subnet outside the VPC), but one that fails would surely be refused, or buy something else.
// It returns nil when r is valid; use its Err method where an error is wanted, since a nil
// FieldErrors stored in an error interface is not a nil error.
func (r *PurchaseRequest) Validate() strictjson.FieldErrors {
	var c checker
	if r == nil {
		c.errs.Add("request", "is required")
		return c.errs
	}
	const p = "request."

	if c.required(p+"server_name", r.ServerName) {
		c.maxChars(p+"server_name", r.ServerName, rules.ServerNameMaxChars)
		if !nameChars(r.ServerName) {
			c.errs.Add(p+"server_name", "may contain only letters, digits, _ and -, got %s", strictjson.Quote(r.ServerName))
		}
	}
	if c.required(p+"server_model_name", r.ServerModelName) {
		c.maxBytes(p+"server_model_name", r.ServerModelName, rules.ModelNameMaxBytes)
	}
	if c.required(p+"phone_model_name", r.PhoneModelName) {
		c.maxBytes(p+"phone_model_name", r.PhoneModelName, rules.ModelNameMaxBytes)
	}
	if c.required(p+"image_id", r.ImageID) {
		c.maxBytes(p+"image_id", r.ImageID, rules.ImageIDMaxBytes)
	}
	if c.requiredInt(p+"count", r.Count) {
		c.between(p+"count", *r.Count, rules.Count, "")
	}
	c.maxBytes(p+"keypair_name", r.KeypairName, rules.KeypairNameMaxBytes)
	for i, port := range r.Ports {
		c.port(strictjson.IndexPath(p+"ports", i), port)
	}
	c.extendParam(p+"extend_param", r.ExtendParam)
	if c.required(p+"tenant_vpc_id", r.TenantVPCID) {
		c.uuid(p+"tenant_vpc_id", r.TenantVPCID)
	}
	if len(r.NICs) == 0 {
		c.errs.Add(p+"nics", "at least one is required")
	}
	for i, nic := range r.NICs {
		c.nic(strictjson.IndexPath(p+"nics", i), nic)
	}
	c.publicIP(p+"public_ip", r.PublicIP)
	if r.PhoneCountPerIP != nil {
		c.atLeast(p+"phone_count_per_ip", *r.PhoneCountPerIP, rules.PhoneCountPerIPMin)
	}
	if r.PhoneDataVolume != nil {
		c.volume(p+"phone_data_volume", *r.PhoneDataVolume)
	}
	if r.ServerShareDataVolume != nil {
		c.volume(p+"server_share_data_volume", *r.ServerShareDataVolume)
	}
	c.bandWidth(p+"band_width", r.BandWidth)
	// availability_zone: any string; the API names no format to check.
	return c.errs
}

// checker collects the violations of one Validate call.
type checker struct {
	errs strictjson.FieldErrors
}

func (c *checker) port(path string, port Port) {
	name := path + ".name"
	if c.required(name, port.Name) {
		c.maxBytes(name, port.Name, rules.PortNameMaxBytes)
		for _, reserved := range rules.ReservedPortNames {
			if strings.EqualFold(port.Name, reserved) {
				c.errs.Add(name, "must not be %s", quotedAlternatives(rules.ReservedPortNames))
				break
			}
		}
	}
	if c.requiredInt(path+".listen_port", port.ListenPort) {
		c.between(path+".listen_port", *port.ListenPort, rules.ListenPort, "")
	}
	// Any string is allowed: "true" in any case opens the port, everything else keeps it closed.
	if port.InternetAccessible == nil {
		c.errs.Add(path+".internet_accessible", "is required")
	}
}

func (c *checker) extendParam(path string, e *ExtendParam) {
	if e == nil {
		c.errs.Add(path, "is required")
		return
	}
	if c.requiredInt(path+".charging_mode", e.ChargingMode) {
		c.oneOfInt(path+".charging_mode", *e.ChargingMode, rules.ChargingModes)
	}
	var period periodType
	known := false
	if c.requiredInt(path+".period_type", e.PeriodType) {
		c.oneOfInt(path+".period_type", *e.PeriodType, rules.periodChoices())
		period, known = rules.periodType(*e.PeriodType)
	}
	if c.requiredInt(path+".period_num", e.PeriodNum) {
		if known {
			c.between(path+".period_num", *e.PeriodNum, period.Num, " for a "+period.Adjective+" period")
		} else {
			c.between(path+".period_num", *e.PeriodNum, rules.anyPeriodNum(), "")
		}
	}
	if e.IsAutoPay != nil {
		c.oneOfInt(path+".is_auto_pay", *e.IsAutoPay, rules.Flags)
	}
	if e.IsAutoRenew != nil {
		c.oneOfInt(path+".is_auto_renew", *e.IsAutoRenew, rules.Flags)
	}
	// enterprise_project_id: any string ("0" or absent means the default project).
}

func (c *checker) nic(path string, n NIC) {
	if c.required(path+".subnet_id", n.SubnetID) {
		c.uuid(path+".subnet_id", n.SubnetID)
	}
	if n.IPv6Bandwidth != nil {
		c.required(path+".ipv6_bandwidth.band_width_id", n.IPv6Bandwidth.BandWidthID)
	}
}

func (c *checker) publicIP(path string, ip *PublicIP) {
	if ip == nil {
		c.errs.Add(path, "is required")
		return
	}
	switch n := len(ip.IDs); {
	case n <= rules.MaxEIPIDs:
	case rules.MaxEIPIDs == 1:
		c.errs.Add(path+".ids", "at most one existing EIP id, got %d", n)
	default:
		c.errs.Add(path+".ids", "at most %d existing EIP ids, got %d", rules.MaxEIPIDs, n)
	}
	if ip.EIP != nil {
		if c.required(path+".eip.type", ip.EIP.Type) {
			c.oneOfString(path+".eip.type", ip.EIP.Type, rules.EIPTypes)
		}
	}
	if ip.Count != nil {
		c.atLeast(path+".count", *ip.Count, rules.PublicIPCountMin)
	}
}

func (c *checker) volume(path string, v DataVolume) {
	if c.required(path+".volume_type", v.VolumeType) {
		c.oneOfString(path+".volume_type", v.VolumeType, rules.VolumeTypes)
	}
	if c.requiredInt(path+".size", v.Size) {
		c.between(path+".size", *v.Size, rules.VolumeSizeGiB, "")
	}
}

// bandWidth checks band_width. The API page lists band_width_id and band_width_size as optional
// and says only that the id identifies the shared bandwidth used and the size sizes the server's
// bandwidth. Our reading: a shared bandwidth (share type 1) is an existing one and must be named
// by band_width_id; a dedicated one (share type 0) is created with the order and must be given a
// band_width_size of at least 1 Mbit/s. The other field is ignored in each case.
func (c *checker) bandWidth(path string, b *BandWidth) {
	if b == nil {
		c.errs.Add(path, "is required")
		return
	}
	if c.requiredInt(path+".band_width_charge_mode", b.BandWidthChargeMode) {
		c.oneOfInt(path+".band_width_charge_mode", *b.BandWidthChargeMode, rules.BandWidthCharge)
	}
	if !c.requiredInt(path+".band_width_share_type", b.BandWidthShareType) {
		return
	}
	c.oneOfInt(path+".band_width_share_type", *b.BandWidthShareType, rules.BandWidthShare)
	switch *b.BandWidthShareType {
	case bandWidthShared:
		if b.BandWidthID == "" {
			c.errs.Add(path+".band_width_id", "is required for a shared bandwidth (band_width_share_type %d)", bandWidthShared)
		}
	case bandWidthDedicated:
		if b.BandWidthSize == nil {
			c.errs.Add(path+".band_width_size", "is required for a dedicated bandwidth (band_width_share_type %d)", bandWidthDedicated)
		} else {
			c.atLeast(path+".band_width_size", *b.BandWidthSize, rules.BandWidthSizeMin)
		}
	}
}

// required reports whether the required string s is given, and records the violation if not.
func (c *checker) required(path, s string) bool {
	if s == "" {
		c.errs.Add(path, "is required")
		return false
	}
	return true
}

// requiredInt reports whether the required integer v is given, and records the violation if not.
func (c *checker) requiredInt(path string, v *int) bool {
	if v == nil {
		c.errs.Add(path, "is required")
		return false
	}
	return true
}

func (c *checker) maxBytes(path, s string, n int) {
	if len(s) > n {
		c.errs.Add(path, "must be at most %d bytes, got %d", n, len(s))
	}
}

func (c *checker) maxChars(path, s string, n int) {
	if k := utf8.RuneCountInString(s); k > n {
		c.errs.Add(path, "must be at most %d characters, got %d", n, k)
	}
}

// between checks min ≤ v ≤ max; context qualifies the rule, as " for a monthly period".
func (c *checker) between(path string, v int, r intRange, context string) {
	if v < r.Min || v > r.Max {
		c.errs.Add(path, "must be between %d and %d%s, got %d", r.Min, r.Max, context, v)
	}
}

func (c *checker) atLeast(path string, v, lo int) {
	if v < lo {
		c.errs.Add(path, "must be at least %d, got %d", lo, v)
	}
}

func (c *checker) oneOfInt(path string, v int, cs []intChoice) {
	if !hasInt(cs, v) {
		c.errs.Add(path, "must be one of %s, got %d", intChoicesText(cs), v)
	}
}

func (c *checker) oneOfString(path, v string, list []string) {
	if !hasString(list, v) {
		c.errs.Add(path, "must be one of %s, got %s", strings.Join(list, ", "), strictjson.Quote(v))
	}
}

func (c *checker) uuid(path, s string) {
	if !isUUID(s) {
		c.errs.Add(path, "must be a UUID, got %s", strictjson.Quote(s))
	}
}

// nameChars reports whether s holds only the characters a server name may have.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a UUID in its canonical text form, 8-4-4-4-12 hex digits in either
// case, which is how the API writes VPC and subnet ids.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch i {
		case 8, 13, 18, 23:
			if b != '-' {
				return false
			}
		default:
			if !('0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F') {
				return false
			}
		}
	}
	return true
}
