package strictjson

// request has the JSON shape of a CPH purchase request (internal/cph.PurchaseRequest, which this
// package may not import): a realistic document with nested objects, arrays of objects, pointers
// to integers and a number of fields in a string. Only its shape matters here.
type request struct {
	ServerName            string       `json:"server_name"`
	ServerModelName       string       `json:"server_model_name"`
	PhoneModelName        string       `json:"phone_model_name"`
	ImageID               string       `json:"image_id"`
	Count                 *int         `json:"count"`
	KeypairName           string       `json:"keypair_name,omitempty"`
	Ports                 []port       `json:"ports,omitempty"`
	ExtendParam           *extendParam `json:"extend_param"`
	TenantVPCID           string       `json:"tenant_vpc_id"`
	NICs                  []nic        `json:"nics"`
	PublicIP              *publicIP    `json:"public_ip"`
	PhoneCountPerIP       *int         `json:"phone_count_per_ip,omitempty"`
	PhoneDataVolume       *dataVolume  `json:"phone_data_volume,omitempty"`
	ServerShareDataVolume *dataVolume  `json:"server_share_data_volume,omitempty"`
	BandWidth             *bandWidth   `json:"band_width"`
	AvailabilityZone      string       `json:"availability_zone,omitempty"`
}

type port struct {
	Name               string  `json:"name"`
	ListenPort         *int    `json:"listen_port"`
	InternetAccessible *string `json:"internet_accessible"`
}

type extendParam struct {
	ChargingMode        *int   `json:"charging_mode"`
	PeriodType          *int   `json:"period_type"`
	PeriodNum           *int   `json:"period_num"`
	IsAutoPay           *int   `json:"is_auto_pay,omitempty"`
	IsAutoRenew         *int   `json:"is_auto_renew,omitempty"`
	EnterpriseProjectID string `json:"enterprise_project_id,omitempty"`
}

type nic struct {
	SubnetID      string         `json:"subnet_id"`
	IPv6Enable    *bool          `json:"ipv6_enable,omitempty"`
	IPv6Bandwidth *ipv6Bandwidth `json:"ipv6_bandwidth,omitempty"`
}

type ipv6Bandwidth struct {
	BandWidthID string `json:"band_width_id"`
}

type publicIP struct {
	IDs   []string `json:"ids,omitempty"`
	EIP   *eip     `json:"eip,omitempty"`
	Count *int     `json:"count,omitempty"`
}

type eip struct {
	Type string `json:"type"`
}

type dataVolume struct {
	VolumeType string `json:"volume_type"`
	Size       *int   `json:"size"`
}

type bandWidth struct {
	BandWidthID         string `json:"band_width_id,omitempty"`
	BandWidthSize       *int   `json:"band_width_size,omitempty"`
	BandWidthChargeMode *int   `json:"band_width_charge_mode"`
	BandWidthShareType  *int   `json:"band_width_share_type"`
}

// envelope is the shape of a purchase order (internal/tasks.Order), decoded with prefix "".
type envelope struct {
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	ProjectID      string            `json:"project_id,omitempty"`
	Request        *request          `json:"request"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}
