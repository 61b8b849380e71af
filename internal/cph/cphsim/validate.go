package cphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// purchaseBody is the simulator's own reading of the purchase body. It is deliberately not
// cph.PurchaseRequest, and its checks are not cph's validator: the simulator stands in for the
// real API in tests of that validator and of the client, so the two must be able to disagree.
// It checks what the real API is documented to refuse with a specific code, plus presence of the
// required fields; the full rule set is the client's job.
type purchaseBody struct {
	ServerName            *string         `json:"server_name"`
	ServerModelName       *string         `json:"server_model_name"`
	PhoneModelName        *string         `json:"phone_model_name"`
	ImageID               *string         `json:"image_id"`
	Count                 *int            `json:"count"`
	KeypairName           string          `json:"keypair_name"`
	Ports                 json.RawMessage `json:"ports"`
	ExtendParam           *extendParam    `json:"extend_param"`
	TenantVPCID           *string         `json:"tenant_vpc_id"`
	NICs                  []nic           `json:"nics"`
	PublicIP              json.RawMessage `json:"public_ip"`
	PhoneCountPerIP       json.RawMessage `json:"phone_count_per_ip"`
	PhoneDataVolume       json.RawMessage `json:"phone_data_volume"`
	ServerShareDataVolume json.RawMessage `json:"server_share_data_volume"`
	BandWidth             *bandWidth      `json:"band_width"`
	AvailabilityZone      string          `json:"availability_zone"`
}

type extendParam struct {
	ChargingMode        *int   `json:"charging_mode"`
	PeriodType          *int   `json:"period_type"`
	PeriodNum           *int   `json:"period_num"`
	IsAutoPay           *int   `json:"is_auto_pay"`
	IsAutoRenew         *int   `json:"is_auto_renew"`
	EnterpriseProjectID string `json:"enterprise_project_id"`
}

type nic struct {
	SubnetID      string          `json:"subnet_id"`
	IPv6Enable    *bool           `json:"ipv6_enable"`
	IPv6Bandwidth json.RawMessage `json:"ipv6_bandwidth"`
}

type bandWidth struct {
	BandWidthID         string `json:"band_width_id"`
	BandWidthSize       *int   `json:"band_width_size"`
	BandWidthChargeMode *int   `json:"band_width_charge_mode"`
	BandWidthShareType  *int   `json:"band_width_share_type"`
}

// autoPay reports extend_param.is_auto_pay == 1; anything else leaves the order unpaid.
func (b *purchaseBody) autoPay() bool {
	return b.ExtendParam != nil && b.ExtendParam.IsAutoPay != nil && *b.ExtendParam.IsAutoPay == 1
}

// invalidBody is a refused body: the API error code and message to answer 400 with.
type invalidBody struct{ code, msg string }

func (e *invalidBody) Error() string { return e.code + ": " + e.msg }

func invalid(code, format string, args ...any) *invalidBody {
	return &invalidBody{code: code, msg: fmt.Sprintf(format, args...)}
}

// codeForField is the code the API uses for a problem with field (a JSON path without the
// "request." prefix), so that a type error and a missing field get the same code.
func codeForField(field string) string {
	switch {
	case field == "count":
		return codeInvalidCount
	case field == "server_model_name", field == "phone_model_name":
		return codeInvalidFlavor
	case field == "image_id":
		return codeInvalidImage
	case field == "band_width", strings.HasPrefix(field, "band_width."):
		return codeInvalidBW
	}
	return codeInvalidParam
}

// parsePurchase decodes and checks a purchase body. The body is returned even when a check
// fails, so the call record can still name the server.
func parsePurchase(raw []byte) (*purchaseBody, *invalidBody) {
	var b purchaseBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &b, invalid(codeForField(te.Field), "Invalid parameter %s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return &b, invalid(codeInvalidParam, "The request body is malformed: %v", err)
	}
	if dec.More() {
		return &b, invalid(codeInvalidParam, "The request body is malformed: data after the JSON object")
	}
	return &b, b.check()
}

// check applies the rules in the order the fields appear on the API page; the first broken rule
// is the answer, as on the real API.
func (b *purchaseBody) check() *invalidBody {
	switch {
	case b.ServerName == nil || *b.ServerName == "":
		return invalid(codeInvalidParam, "server_name is required")
	case !validServerName(*b.ServerName):
		return invalid(codeInvalidParam, "Invalid server_name: 1 to 60 letters, digits, _ or -")
	case b.ServerModelName == nil || *b.ServerModelName == "" || len(*b.ServerModelName) > 64:
		return invalid(codeInvalidFlavor, "Invalid server_model_name")
	case b.PhoneModelName == nil || *b.PhoneModelName == "" || len(*b.PhoneModelName) > 64:
		return invalid(codeInvalidFlavor, "Invalid phone_model_name")
	case b.ImageID == nil || *b.ImageID == "" || len(*b.ImageID) > 32:
		return invalid(codeInvalidImage, "Invalid image_id")
	case b.Count == nil:
		return invalid(codeInvalidCount, "count is required")
	case *b.Count < 1 || *b.Count > 10:
		return invalid(codeInvalidCount, "Invalid count %d: 1 to 10 servers per order", *b.Count)
	case b.ExtendParam == nil:
		return invalid(codeInvalidParam, "extend_param is required")
	case b.ExtendParam.ChargingMode == nil || b.ExtendParam.PeriodType == nil || b.ExtendParam.PeriodNum == nil:
		return invalid(codeInvalidParam, "extend_param needs charging_mode, period_type and period_num")
	case !zeroOrOne(b.ExtendParam.IsAutoPay) || !zeroOrOne(b.ExtendParam.IsAutoRenew):
		return invalid(codeInvalidParam, "extend_param.is_auto_pay and is_auto_renew are 0 or 1")
	case b.TenantVPCID == nil || *b.TenantVPCID == "":
		return invalid(codeInvalidParam, "tenant_vpc_id is required")
	case len(b.NICs) == 0:
		return invalid(codeInvalidParam, "nics needs at least one subnet")
	case isNull(b.PublicIP):
		return invalid(codeInvalidParam, "public_ip is required")
	case b.BandWidth == nil:
		return invalid(codeInvalidBW, "band_width is required")
	case !zeroOrOne(b.BandWidth.BandWidthChargeMode) || b.BandWidth.BandWidthChargeMode == nil:
		return invalid(codeInvalidBW, "band_width.band_width_charge_mode is 0 or 1")
	case !zeroOrOne(b.BandWidth.BandWidthShareType) || b.BandWidth.BandWidthShareType == nil:
		return invalid(codeInvalidBW, "band_width.band_width_share_type is 0 or 1")
	}
	for i, n := range b.NICs {
		if n.SubnetID == "" {
			return invalid(codeInvalidParam, "nics[%d].subnet_id is required", i)
		}
	}
	return nil
}

// validServerName is ^[A-Za-z0-9_-]{1,60}$, written out so no regexp sits in package state.
func validServerName(s string) bool {
	if len(s) < 1 || len(s) > 60 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// zeroOrOne accepts an absent value, 0 or 1.
func zeroOrOne(p *int) bool { return p == nil || *p == 0 || *p == 1 }

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}
