package cph

import (
	"reflect"
	"strings"
	"testing"
)

const (
	uuidA = "fca063f6-b942-42a8-9004-e5545f58d6a2"
	uuidB = "f1cbfc37-eb42-4357-a0ec-9e4f11950908"
)

func TestValidateAPIExample(t *testing.T) {
	if es := exampleRequest(t).Validate(); es != nil {
		t.Fatalf("the API page's example is invalid:\n%v", es)
	}
}

func TestValidateNil(t *testing.T) {
	var r *PurchaseRequest
	sameLines(t, fieldLines(r.Validate()), []string{"request: is required"})
}

// validateCase changes the API example in one way and lists the errors Validate must report;
// an empty want means the change keeps the request valid.
type validateCase struct {
	name string
	mut  func(r *PurchaseRequest)
	want []string
}

func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := exampleRequest(t)
			tc.mut(r)
			sameLines(t, fieldLines(r.Validate()), tc.want)
		})
	}
}

func TestValidateNames(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	runValidateCases(t, []validateCase{
		{"server_name missing", func(r *PurchaseRequest) { r.ServerName = "" },
			[]string{"request.server_name: is required"}},
		{"server_name 1 char", func(r *PurchaseRequest) { r.ServerName = "a" }, nil},
		{"server_name 60 chars", func(r *PurchaseRequest) { r.ServerName = a(60) }, nil},
		{"server_name 61 chars", func(r *PurchaseRequest) { r.ServerName = a(61) },
			[]string{"request.server_name: must be at most 60 characters, got 61"}},
		{"server_name all allowed characters", func(r *PurchaseRequest) { r.ServerName = "AZaz09_-" }, nil},
		{"server_name with a space", func(r *PurchaseRequest) { r.ServerName = "a b" },
			[]string{`request.server_name: may contain only letters, digits, _ and -, got "a b"`}},
		{"server_name with a dot", func(r *PurchaseRequest) { r.ServerName = "a.b" },
			[]string{`request.server_name: may contain only letters, digits, _ and -, got "a.b"`}},
		{"server_name counts characters, not bytes", func(r *PurchaseRequest) { r.ServerName = strings.Repeat("é", 60) },
			[]string{`request.server_name: may contain only letters, digits, _ and -, got "` + strings.Repeat("é", 32) + `…"`}},
		{"server_name too long and bad characters", func(r *PurchaseRequest) { r.ServerName = strings.Repeat("é", 61) },
			[]string{
				"request.server_name: must be at most 60 characters, got 61",
				`request.server_name: may contain only letters, digits, _ and -, got "` + strings.Repeat("é", 32) + `…"`,
			}},
		{"server_name control character is escaped", func(r *PurchaseRequest) { r.ServerName = "a\nb" },
			[]string{`request.server_name: may contain only letters, digits, _ and -, got "a\nb"`}},

		{"server_model_name missing", func(r *PurchaseRequest) { r.ServerModelName = "" },
			[]string{"request.server_model_name: is required"}},
		{"server_model_name 64 bytes", func(r *PurchaseRequest) { r.ServerModelName = a(64) }, nil},
		{"server_model_name 65 bytes", func(r *PurchaseRequest) { r.ServerModelName = a(65) },
			[]string{"request.server_model_name: must be at most 64 bytes, got 65"}},
		{"phone_model_name missing", func(r *PurchaseRequest) { r.PhoneModelName = "" },
			[]string{"request.phone_model_name: is required"}},
		{"phone_model_name 64 bytes", func(r *PurchaseRequest) { r.PhoneModelName = a(64) }, nil},
		{"phone_model_name 65 bytes", func(r *PurchaseRequest) { r.PhoneModelName = a(65) },
			[]string{"request.phone_model_name: must be at most 64 bytes, got 65"}},
		{"phone_model_name counts bytes", func(r *PurchaseRequest) { r.PhoneModelName = strings.Repeat("é", 33) },
			[]string{"request.phone_model_name: must be at most 64 bytes, got 66"}},

		{"image_id missing", func(r *PurchaseRequest) { r.ImageID = "" },
			[]string{"request.image_id: is required"}},
		{"image_id 32 bytes", func(r *PurchaseRequest) { r.ImageID = a(32) }, nil},
		{"image_id 33 bytes", func(r *PurchaseRequest) { r.ImageID = a(33) },
			[]string{"request.image_id: must be at most 32 bytes, got 33"}},

		{"keypair_name absent", func(r *PurchaseRequest) { r.KeypairName = "" }, nil},
		{"keypair_name 64 bytes", func(r *PurchaseRequest) { r.KeypairName = a(64) }, nil},
		{"keypair_name 65 bytes", func(r *PurchaseRequest) { r.KeypairName = a(65) },
			[]string{"request.keypair_name: must be at most 64 bytes, got 65"}},

		{"availability_zone any string", func(r *PurchaseRequest) { r.AvailabilityZone = "cn-east-3a" }, nil},
	})
}

func TestValidateCount(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"missing", func(r *PurchaseRequest) { r.Count = nil }, []string{"request.count: is required"}},
		{"-1", func(r *PurchaseRequest) { r.Count = intp(-1) }, []string{"request.count: must be between 1 and 10, got -1"}},
		{"0", func(r *PurchaseRequest) { r.Count = intp(0) }, []string{"request.count: must be between 1 and 10, got 0"}},
		{"1", func(r *PurchaseRequest) { r.Count = intp(1) }, nil},
		{"10", func(r *PurchaseRequest) { r.Count = intp(10) }, nil},
		{"11", func(r *PurchaseRequest) { r.Count = intp(11) }, []string{"request.count: must be between 1 and 10, got 11"}},
	})
}

func TestValidatePorts(t *testing.T) {
	port := func(name string, listen *int, internet *string) func(r *PurchaseRequest) {
		return func(r *PurchaseRequest) {
			r.Ports = append(r.Ports, Port{Name: name, ListenPort: listen, InternetAccessible: internet})
		}
	}
	p := "request.ports[2]."
	runValidateCases(t, []validateCase{
		{"no ports", func(r *PurchaseRequest) { r.Ports = nil }, nil},
		{"empty ports", func(r *PurchaseRequest) { r.Ports = []Port{} }, nil},
		{"name missing", port("", intp(30000), strp("true")), []string{p + "name: is required"}},
		{"name 16 bytes", port(strings.Repeat("n", 16), intp(30000), strp("true")), nil},
		{"name 17 bytes", port(strings.Repeat("n", 17), intp(30000), strp("true")),
			[]string{p + "name: must be at most 16 bytes, got 17"}},
		{"name adb", port("adb", intp(30000), strp("true")), []string{p + `name: must not be "adb" or "vnc"`}},
		{"name vnc", port("vnc", intp(30000), strp("true")), []string{p + `name: must not be "adb" or "vnc"`}},
		{"name ADB", port("ADB", intp(30000), strp("true")), []string{p + `name: must not be "adb" or "vnc"`}},
		{"name VnC", port("VnC", intp(30000), strp("true")), []string{p + `name: must not be "adb" or "vnc"`}},
		{"name adb2", port("adb2", intp(30000), strp("true")), nil},
		{"listen_port missing", port("web", nil, strp("true")), []string{p + "listen_port: is required"}},
		{"listen_port 9999", port("web", intp(9999), strp("true")),
			[]string{p + "listen_port: must be between 10000 and 50000, got 9999"}},
		{"listen_port 10000", port("web", intp(10000), strp("true")), nil},
		{"listen_port 50000", port("web", intp(50000), strp("true")), nil},
		{"listen_port 50001", port("web", intp(50001), strp("true")),
			[]string{p + "listen_port: must be between 10000 and 50000, got 50001"}},
		{"internet_accessible missing", port("web", intp(30000), nil), []string{p + "internet_accessible: is required"}},
		{"internet_accessible empty string", port("web", intp(30000), strp("")), nil},
		{"internet_accessible TRUE", port("web", intp(30000), strp("TRUE")), nil},
		{"internet_accessible any string", port("web", intp(30000), strp("maybe")), nil},
		{"everything wrong in one port", port("Vnc", intp(1), nil), []string{
			p + `name: must not be "adb" or "vnc"`,
			p + "listen_port: must be between 10000 and 50000, got 1",
			p + "internet_accessible: is required",
		}},
	})
}

func TestValidateExtendParam(t *testing.T) {
	p := "request.extend_param."
	period := func(typ, num int) func(r *PurchaseRequest) {
		return func(r *PurchaseRequest) { r.ExtendParam.PeriodType, r.ExtendParam.PeriodNum = intp(typ), intp(num) }
	}
	runValidateCases(t, []validateCase{
		{"missing", func(r *PurchaseRequest) { r.ExtendParam = nil }, []string{"request.extend_param: is required"}},
		{"empty", func(r *PurchaseRequest) { r.ExtendParam = &ExtendParam{} }, []string{
			p + "charging_mode: is required",
			p + "period_type: is required",
			p + "period_num: is required",
		}},
		{"charging_mode 0", func(r *PurchaseRequest) { r.ExtendParam.ChargingMode = intp(0) }, nil},
		{"charging_mode 1", func(r *PurchaseRequest) { r.ExtendParam.ChargingMode = intp(1) }, nil},
		{"charging_mode 2", func(r *PurchaseRequest) { r.ExtendParam.ChargingMode = intp(2) },
			[]string{p + "charging_mode: must be one of 0 (yearly/monthly), 1 (pay-per-use), got 2"}},
		{"charging_mode -1", func(r *PurchaseRequest) { r.ExtendParam.ChargingMode = intp(-1) },
			[]string{p + "charging_mode: must be one of 0 (yearly/monthly), 1 (pay-per-use), got -1"}},

		{"month 0", period(2, 0), []string{p + "period_num: must be between 1 and 9 for a monthly period, got 0"}},
		{"month 1", period(2, 1), nil},
		{"month 9", period(2, 9), nil},
		{"month 10", period(2, 10), []string{p + "period_num: must be between 1 and 9 for a monthly period, got 10"}},
		{"year 0", period(3, 0), []string{p + "period_num: must be between 1 and 10 for a yearly period, got 0"}},
		{"year 1", period(3, 1), nil},
		{"year 10", period(3, 10), nil},
		{"year 11", period(3, 11), []string{p + "period_num: must be between 1 and 10 for a yearly period, got 11"}},
		{"period_type 1", period(1, 1), []string{p + "period_type: must be one of 2 (month), 3 (year), got 1"}},
		{"period_type 4", period(4, 1), []string{p + "period_type: must be one of 2 (month), 3 (year), got 4"}},
		{"unknown period_type, period_num within any period", period(4, 10),
			[]string{p + "period_type: must be one of 2 (month), 3 (year), got 4"}},
		{"unknown period_type, period_num beyond every period", period(4, 11), []string{
			p + "period_type: must be one of 2 (month), 3 (year), got 4",
			p + "period_num: must be between 1 and 10, got 11",
		}},
		{"period_type missing", func(r *PurchaseRequest) { r.ExtendParam.PeriodType = nil },
			[]string{p + "period_type: is required"}},
		{"period_num missing", func(r *PurchaseRequest) { r.ExtendParam.PeriodNum = nil },
			[]string{p + "period_num: is required"}},

		{"is_auto_pay absent", func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = nil }, nil},
		{"is_auto_pay 0", func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = intp(0) }, nil},
		{"is_auto_pay 1", func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = intp(1) }, nil},
		{"is_auto_pay 2", func(r *PurchaseRequest) { r.ExtendParam.IsAutoPay = intp(2) },
			[]string{p + "is_auto_pay: must be one of 0 (no), 1 (yes), got 2"}},
		{"is_auto_renew absent", func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = nil }, nil},
		{"is_auto_renew 0", func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = intp(0) }, nil},
		{"is_auto_renew 1", func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = intp(1) }, nil},
		{"is_auto_renew -1", func(r *PurchaseRequest) { r.ExtendParam.IsAutoRenew = intp(-1) },
			[]string{p + "is_auto_renew: must be one of 0 (no), 1 (yes), got -1"}},
		{"enterprise_project_id any string", func(r *PurchaseRequest) { r.ExtendParam.EnterpriseProjectID = "0" }, nil},
	})
}

func TestValidateNetwork(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"tenant_vpc_id missing", func(r *PurchaseRequest) { r.TenantVPCID = "" },
			[]string{"request.tenant_vpc_id: is required"}},
		{"tenant_vpc_id x", func(r *PurchaseRequest) { r.TenantVPCID = "x" },
			[]string{`request.tenant_vpc_id: must be a UUID, got "x"`}},
		{"tenant_vpc_id upper case", func(r *PurchaseRequest) { r.TenantVPCID = strings.ToUpper(uuidA) }, nil},
		{"tenant_vpc_id without hyphens", func(r *PurchaseRequest) { r.TenantVPCID = strings.ReplaceAll(uuidA, "-", "") },
			[]string{`request.tenant_vpc_id: must be a UUID, got "fca063f6b94242a89004e5545f58d6a2"`}},
		{"tenant_vpc_id hyphen misplaced", func(r *PurchaseRequest) { r.TenantVPCID = "fca063f6b-942-42a8-9004-e5545f58d6a2" },
			[]string{`request.tenant_vpc_id: must be a UUID, got "fca063f6b-942-42a8-9004-e5545f58d6a2"`}},
		{"tenant_vpc_id not hex", func(r *PurchaseRequest) { r.TenantVPCID = "gca063f6-b942-42a8-9004-e5545f58d6a2" },
			[]string{`request.tenant_vpc_id: must be a UUID, got "gca063f6-b942-42a8-9004-e5545f58d6a2"`}},
		{"tenant_vpc_id one digit short", func(r *PurchaseRequest) { r.TenantVPCID = uuidA[:35] },
			[]string{`request.tenant_vpc_id: must be a UUID, got "` + uuidA[:35] + `"`}},
		{"tenant_vpc_id in braces", func(r *PurchaseRequest) { r.TenantVPCID = "{" + uuidA + "}" },
			[]string{`request.tenant_vpc_id: must be a UUID, got "{` + uuidA + `}"`}},

		{"nics missing", func(r *PurchaseRequest) { r.NICs = nil }, []string{"request.nics: at least one is required"}},
		{"nics empty", func(r *PurchaseRequest) { r.NICs = []NIC{} }, []string{"request.nics: at least one is required"}},
		{"two nics", func(r *PurchaseRequest) { r.NICs = append(r.NICs, NIC{SubnetID: uuidA}) }, nil},
		{"subnet_id missing", func(r *PurchaseRequest) { r.NICs = append(r.NICs, NIC{}) },
			[]string{"request.nics[1].subnet_id: is required"}},
		{"subnet_id not a UUID", func(r *PurchaseRequest) { r.NICs[0].SubnetID = "subnet-1" },
			[]string{`request.nics[0].subnet_id: must be a UUID, got "subnet-1"`}},
		{"ipv6_enable", func(r *PurchaseRequest) { r.NICs[0].IPv6Enable = boolp(true) }, nil},
		{"ipv6_bandwidth with id", func(r *PurchaseRequest) { r.NICs[0].IPv6Bandwidth = &IPv6Bandwidth{BandWidthID: "bw"} }, nil},
		{"ipv6_bandwidth without id", func(r *PurchaseRequest) { r.NICs[0].IPv6Bandwidth = &IPv6Bandwidth{} },
			[]string{"request.nics[0].ipv6_bandwidth.band_width_id: is required"}},

		{"phone_count_per_ip absent", func(r *PurchaseRequest) { r.PhoneCountPerIP = nil }, nil},
		{"phone_count_per_ip 0", func(r *PurchaseRequest) { r.PhoneCountPerIP = intp(0) },
			[]string{"request.phone_count_per_ip: must be at least 1, got 0"}},
		{"phone_count_per_ip 1", func(r *PurchaseRequest) { r.PhoneCountPerIP = intp(1) }, nil},
	})
}

func TestValidatePublicIP(t *testing.T) {
	p := "request.public_ip."
	eip := func(typ string) func(r *PurchaseRequest) {
		return func(r *PurchaseRequest) { r.PublicIP.EIP = &EIP{Type: typ} }
	}
	runValidateCases(t, []validateCase{
		{"missing", func(r *PurchaseRequest) { r.PublicIP = nil }, []string{"request.public_ip: is required"}},
		{"empty object", func(r *PurchaseRequest) { r.PublicIP = &PublicIP{} }, nil},
		{"one existing EIP", func(r *PurchaseRequest) { r.PublicIP = &PublicIP{IDs: []string{"eip-1"}} }, nil},
		{"two existing EIPs", func(r *PurchaseRequest) { r.PublicIP.IDs = []string{"eip-1", "eip-2"} },
			[]string{p + "ids: at most one existing EIP id, got 2"}},
		{"5_bgp", eip("5_bgp"), nil},
		{"5_sbgp", eip("5_sbgp"), nil},
		{"5_telcom", eip("5_telcom"), nil},
		{"5_union", eip("5_union"), nil},
		{"eip type x", eip("x"), []string{p + `eip.type: must be one of 5_bgp, 5_sbgp, 5_telcom, 5_union, got "x"`}},
		{"eip type is case-sensitive", eip("5_BGP"),
			[]string{p + `eip.type: must be one of 5_bgp, 5_sbgp, 5_telcom, 5_union, got "5_BGP"`}},
		{"eip type missing", eip(""), []string{p + "eip.type: is required"}},
		{"count absent", func(r *PurchaseRequest) { r.PublicIP.Count = nil }, nil},
		{"count -1", func(r *PurchaseRequest) { r.PublicIP.Count = intp(-1) }, []string{p + "count: must be at least 0, got -1"}},
		{"count 0", func(r *PurchaseRequest) { r.PublicIP.Count = intp(0) }, nil},
		{"count 1", func(r *PurchaseRequest) { r.PublicIP.Count = intp(1) }, nil},
	})
}

func TestValidateVolumes(t *testing.T) {
	for _, v := range []struct {
		path string
		set  func(r *PurchaseRequest, d *DataVolume)
	}{
		{"request.phone_data_volume", func(r *PurchaseRequest, d *DataVolume) { r.PhoneDataVolume = d }},
		{"request.server_share_data_volume", func(r *PurchaseRequest, d *DataVolume) { r.ServerShareDataVolume = d }},
	} {
		vol := func(typ string, size *int) func(r *PurchaseRequest) {
			return func(r *PurchaseRequest) { v.set(r, &DataVolume{VolumeType: typ, Size: size}) }
		}
		p := v.path + "."
		t.Run(v.path, func(t *testing.T) {
			runValidateCases(t, []validateCase{
				{"absent", func(r *PurchaseRequest) { v.set(r, nil) }, nil},
				{"SSD", vol("SSD", intp(100)), nil},
				{"GPSSD", vol("GPSSD", intp(100)), nil},
				{"ssd", vol("ssd", intp(100)), []string{p + `volume_type: must be one of SSD, GPSSD, got "ssd"`}},
				{"type missing", vol("", intp(100)), []string{p + "volume_type: is required"}},
				{"size missing", vol("SSD", nil), []string{p + "size: is required"}},
				{"size 9", vol("SSD", intp(9)), []string{p + "size: must be between 10 and 32768, got 9"}},
				{"size 10", vol("SSD", intp(10)), nil},
				{"size 32768", vol("SSD", intp(32768)), nil},
				{"size 32769", vol("SSD", intp(32769)), []string{p + "size: must be between 10 and 32768, got 32769"}},
				{"empty", vol("", nil), []string{p + "volume_type: is required", p + "size: is required"}},
			})
		})
	}
}

func TestValidateBandWidth(t *testing.T) {
	p := "request.band_width."
	bw := func(charge, share *int, id string, size *int) func(r *PurchaseRequest) {
		return func(r *PurchaseRequest) {
			r.BandWidth = &BandWidth{BandWidthChargeMode: charge, BandWidthShareType: share, BandWidthID: id, BandWidthSize: size}
		}
	}
	runValidateCases(t, []validateCase{
		{"missing", func(r *PurchaseRequest) { r.BandWidth = nil }, []string{"request.band_width: is required"}},
		{"empty", bw(nil, nil, "", nil), []string{p + "band_width_charge_mode: is required", p + "band_width_share_type: is required"}},
		{"charge mode 0", bw(intp(0), intp(0), "", intp(10)), nil},
		{"charge mode 1", bw(intp(1), intp(0), "", intp(10)), nil},
		{"charge mode 2", bw(intp(2), intp(0), "", intp(10)),
			[]string{p + "band_width_charge_mode: must be one of 0 (by bandwidth), 1 (by traffic), got 2"}},
		{"dedicated", bw(intp(0), intp(0), "", intp(300)), nil},
		{"dedicated without size", bw(intp(0), intp(0), "", nil),
			[]string{p + "band_width_size: is required for a dedicated bandwidth (band_width_share_type 0)"}},
		{"dedicated with an id but no size", bw(intp(0), intp(0), "bw-1", nil),
			[]string{p + "band_width_size: is required for a dedicated bandwidth (band_width_share_type 0)"}},
		{"dedicated size 0", bw(intp(0), intp(0), "", intp(0)), []string{p + "band_width_size: must be at least 1, got 0"}},
		{"dedicated size 1", bw(intp(0), intp(0), "", intp(1)), nil},
		{"shared", bw(intp(0), intp(1), "bw-1", nil), nil},
		{"shared without id", bw(intp(0), intp(1), "", intp(10)),
			[]string{p + "band_width_id: is required for a shared bandwidth (band_width_share_type 1)"}},
		{"share type 2", bw(intp(0), intp(2), "", nil),
			[]string{p + "band_width_share_type: must be one of 0 (dedicated), 1 (shared), got 2"}},
		{"share type missing", bw(intp(0), nil, "bw-1", intp(10)), []string{p + "band_width_share_type: is required"}},
	})
}

// TestValidateEverythingAtOnce: a request broken everywhere gets every violation in one report,
// in the order of the request's fields, the same on every call.
func TestValidateEverythingAtOnce(t *testing.T) {
	r := &PurchaseRequest{
		ServerName:      "a b",
		ServerModelName: strings.Repeat("m", 65),
		ImageID:         strings.Repeat("i", 33),
		Count:           intp(11),
		Ports: []Port{
			{Name: "ok", ListenPort: intp(20000), InternetAccessible: strp("true")},
			{Name: "ADB", ListenPort: intp(9999)},
		},
		ExtendParam:      &ExtendParam{ChargingMode: intp(0), PeriodType: intp(2), PeriodNum: intp(10), IsAutoPay: intp(3)},
		TenantVPCID:      "x",
		PublicIP:         &PublicIP{IDs: []string{"a", "b"}, EIP: &EIP{Type: "x"}, Count: intp(-1)},
		PhoneCountPerIP:  intp(0),
		PhoneDataVolume:  &DataVolume{VolumeType: "HDD", Size: intp(9)},
		BandWidth:        &BandWidth{BandWidthChargeMode: intp(0), BandWidthShareType: intp(1)},
		AvailabilityZone: "cn-east-3a",
	}
	want := []string{
		`request.server_name: may contain only letters, digits, _ and -, got "a b"`,
		"request.server_model_name: must be at most 64 bytes, got 65",
		"request.phone_model_name: is required",
		"request.image_id: must be at most 32 bytes, got 33",
		"request.count: must be between 1 and 10, got 11",
		`request.ports[1].name: must not be "adb" or "vnc"`,
		"request.ports[1].listen_port: must be between 10000 and 50000, got 9999",
		"request.ports[1].internet_accessible: is required",
		"request.extend_param.period_num: must be between 1 and 9 for a monthly period, got 10",
		"request.extend_param.is_auto_pay: must be one of 0 (no), 1 (yes), got 3",
		`request.tenant_vpc_id: must be a UUID, got "x"`,
		"request.nics: at least one is required",
		"request.public_ip.ids: at most one existing EIP id, got 2",
		`request.public_ip.eip.type: must be one of 5_bgp, 5_sbgp, 5_telcom, 5_union, got "x"`,
		"request.public_ip.count: must be at least 0, got -1",
		"request.phone_count_per_ip: must be at least 1, got 0",
		`request.phone_data_volume.volume_type: must be one of SSD, GPSSD, got "HDD"`,
		"request.phone_data_volume.size: must be between 10 and 32768, got 9",
		"request.band_width.band_width_id: is required for a shared bandwidth (band_width_share_type 1)",
	}
	first := r.Validate()
	sameLines(t, fieldLines(first), want)
	for range 3 {
		if again := r.Validate(); !reflect.DeepEqual(again, first) {
			t.Fatalf("Validate is not deterministic:\n%v\nthen\n%v", first, again)
		}
	}
	// The contract's format: one "path: message" a line.
	if got := first.Error(); !strings.HasPrefix(got, "request.server_name: may contain only letters, digits, _ and -, got \"a b\"\nrequest.server_model_name: must be at most 64 bytes, got 65\n") {
		t.Errorf("Error() = %q", got)
	}
}

// TestValidateEmptyRequest: everything required is reported, nothing optional.
func TestValidateEmptyRequest(t *testing.T) {
	sameLines(t, fieldLines((&PurchaseRequest{}).Validate()), []string{
		"request.server_name: is required",
		"request.server_model_name: is required",
		"request.phone_model_name: is required",
		"request.image_id: is required",
		"request.count: is required",
		"request.extend_param: is required",
		"request.tenant_vpc_id: is required",
		"request.nics: at least one is required",
		"request.public_ip: is required",
		"request.band_width: is required",
	})
}

// TestValidateDecodedBoundaries runs a few boundaries through the JSON path too, so that
// decoding and validation agree on what reaches the checks.
func TestValidateDecodedBoundaries(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     []string
	}{
		{`"count" : 1`, `"count" : 10`, nil},
		{`"count" : 1`, `"count" : 11`, []string{"request.count: must be between 1 and 10, got 11"}},
		{`"count" : 1`, `"count" : null`, []string{"request.count: is required"}},
		{`"listen_port" : 20001`, `"listen_port" : 9999`,
			[]string{"request.ports[1].listen_port: must be between 10000 and 50000, got 9999"}},
		{`"period_num" : 1`, `"period_num" : 10`,
			[]string{"request.extend_param.period_num: must be between 1 and 9 for a monthly period, got 10"}},
		{`"internet_accessible" : "true"`, `"internet_accessible" : null`,
			[]string{"request.ports[1].internet_accessible: is required"}},
	} {
		t.Run(tc.to, func(t *testing.T) {
			doc := strings.Replace(apiExample, tc.from, tc.to, 1)
			if doc == apiExample {
				t.Fatalf("%s is not in the example", tc.from)
			}
			r, err := DecodePurchaseRequest([]byte(doc))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sameLines(t, fieldLines(r.Validate()), tc.want)
		})
	}
}

func TestRulesTableShape(t *testing.T) {
	// anyPeriodNum is what period_num is checked against when period_type says nothing useful.
	if got := rules.anyPeriodNum(); got != (intRange{1, 10}) {
		t.Errorf("anyPeriodNum = %v, want {1 10}", got)
	}
	if got := quotedAlternatives([]string{"a", "b", "c"}); got != `"a", "b" or "c"` {
		t.Errorf("quotedAlternatives = %s", got)
	}
}
