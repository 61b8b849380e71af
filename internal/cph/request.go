// Package cph knows the Huawei Cloud Phone Host (CPH) purchase API: the request body and its rules,
// the responses, the HTTP client that says for every call what happened, and the token sources.
// It knows nothing of queues; the purchase pipeline in internal/tasks builds on it.
package cph

// PurchaseRequest is the body of POST /v2/{project_id}/cloud-phone/servers, field for field as the
// API page defines it. Required integers are pointers so that "missing" and "zero" stay apart: a
// zero count is a different mistake from a forgotten one, and the error should say which.
type PurchaseRequest struct {
	ServerName            string       `json:"server_name"`
	ServerModelName       string       `json:"server_model_name"`
	PhoneModelName        string       `json:"phone_model_name"`
	ImageID               string       `json:"image_id"`
	Count                 *int         `json:"count"`
	KeypairName           string       `json:"keypair_name,omitempty"`
	Ports                 []Port       `json:"ports,omitempty"`
	ExtendParam           *ExtendParam `json:"extend_param"`
	TenantVPCID           string       `json:"tenant_vpc_id"`
	NICs                  []NIC        `json:"nics"`
	PublicIP              *PublicIP    `json:"public_ip"`
	PhoneCountPerIP       *int         `json:"phone_count_per_ip,omitempty"`
	PhoneDataVolume       *DataVolume  `json:"phone_data_volume,omitempty"`
	ServerShareDataVolume *DataVolume  `json:"server_share_data_volume,omitempty"`
	BandWidth             *BandWidth   `json:"band_width"`
	AvailabilityZone      string       `json:"availability_zone,omitempty"`
}

// Port is an application port that CPH forwards to the cloud phones.
type Port struct {
	Name string `json:"name"`
	// ListenPort is 10000–50000.
	ListenPort *int `json:"listen_port"`
	// InternetAccessible is a string on the wire: "true" (any case) opens the port to the internet.
	InternetAccessible *string `json:"internet_accessible"`
}

// ExtendParam holds the billing parameters.
type ExtendParam struct {
	ChargingMode        *int   `json:"charging_mode"`
	PeriodType          *int   `json:"period_type"`
	PeriodNum           *int   `json:"period_num"`
	IsAutoPay           *int   `json:"is_auto_pay,omitempty"`
	IsAutoRenew         *int   `json:"is_auto_renew,omitempty"`
	EnterpriseProjectID string `json:"enterprise_project_id,omitempty"`
}

// NIC places the server in a subnet of the tenant VPC.
type NIC struct {
	SubnetID      string         `json:"subnet_id"`
	IPv6Enable    *bool          `json:"ipv6_enable,omitempty"`
	IPv6Bandwidth *IPv6Bandwidth `json:"ipv6_bandwidth,omitempty"`
}

// IPv6Bandwidth is the shared bandwidth bound to a NIC's IPv6 addresses.
type IPv6Bandwidth struct {
	BandWidthID string `json:"band_width_id"`
}

// PublicIP says how the server gets its EIP: an existing one (IDs) or a new one (EIP).
type PublicIP struct {
	IDs   []string `json:"ids,omitempty"`
	EIP   *EIP     `json:"eip,omitempty"`
	Count *int     `json:"count,omitempty"`
}

// EIP describes an EIP to be assigned automatically.
type EIP struct {
	Type string `json:"type"`
}

// DataVolume is a phone data disk or a server's shared data disk.
type DataVolume struct {
	VolumeType string `json:"volume_type"`
	// Size is in GiB, 10–32768.
	Size *int `json:"size"`
}

// BandWidth is the bandwidth the cloud phones use: a shared one (BandWidthID) or a dedicated one
// sized by BandWidthSize.
type BandWidth struct {
	BandWidthID         string `json:"band_width_id,omitempty"`
	BandWidthSize       *int   `json:"band_width_size,omitempty"`
	BandWidthChargeMode *int   `json:"band_width_charge_mode"`
	BandWidthShareType  *int   `json:"band_width_share_type"`
}

// AutoPay reports whether the order is paid automatically. Without auto-pay an order waits for
// payment in BSS and no server appears in the server list, which is what reconciliation reads.
func (r *PurchaseRequest) AutoPay() bool {
	return r.ExtendParam != nil && r.ExtendParam.IsAutoPay != nil && *r.ExtendParam.IsAutoPay == 1
}

// ServerCount is the number of servers ordered, 0 when count is missing.
func (r *PurchaseRequest) ServerCount() int {
	if r.Count == nil {
		return 0
	}
	return *r.Count
}
