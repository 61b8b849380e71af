package cph

import (
	"slices"
	"strconv"
	"strings"
)

// intRange is an inclusive range of integers.
type intRange struct{ Min, Max int }

// intChoice is one allowed value of an integer enumeration, with what it means, so that an error
// can list the choices in words.
type intChoice struct {
	Value   int
	Meaning string
}

// periodType is one allowed extend_param.period_type with the period_num range it allows.
type periodType struct {
	Value     int
	Unit      string // "month", as in "2 (month)"
	Adjective string // "monthly", as in "for a monthly period"
	Num       intRange
}

// ruleTable holds every value list and bound of the purchase request rules (docs/cph-api.md,
// "The purchase body"), so that a region that accepts another EIP type, volume type or charging
// mode is one line to change here and nothing in Validate.
type ruleTable struct {
	ServerNameMaxChars  int
	ModelNameMaxBytes   int // server_model_name, phone_model_name
	ImageIDMaxBytes     int
	KeypairNameMaxBytes int
	PortNameMaxBytes    int
	ReservedPortNames   []string // compared case-insensitively
	Count               intRange
	ListenPort          intRange
	ChargingModes       []intChoice
	PeriodTypes         []periodType
	Flags               []intChoice // is_auto_pay, is_auto_renew
	MaxEIPIDs           int
	EIPTypes            []string
	PublicIPCountMin    int
	PhoneCountPerIPMin  int
	VolumeTypes         []string
	VolumeSizeGiB       intRange
	BandWidthCharge     []intChoice
	BandWidthShare      []intChoice
	BandWidthSizeMin    int
}

// Band width share types that change which other band_width field is required.
const (
	bandWidthDedicated = 0
	bandWidthShared    = 1
)

// rules is the one table of the request's value lists and bounds. It is read-only: nothing
// writes to it after initialisation.
var rules = ruleTable{
	ServerNameMaxChars:  60,
	ModelNameMaxBytes:   64,
	ImageIDMaxBytes:     32,
	KeypairNameMaxBytes: 64,
	PortNameMaxBytes:    16,
	ReservedPortNames:   []string{"adb", "vnc"},
	Count:               intRange{1, 10},
	ListenPort:          intRange{10000, 50000},
	ChargingModes: []intChoice{
		{0, "yearly/monthly"},
		{1, "pay-per-use"}, // exists only in some regions; the API refuses it elsewhere
	},
	PeriodTypes: []periodType{
		{2, "month", "monthly", intRange{1, 9}},
		{3, "year", "yearly", intRange{1, 10}},
	},
	Flags:              []intChoice{{0, "no"}, {1, "yes"}},
	MaxEIPIDs:          1,
	EIPTypes:           []string{"5_bgp", "5_sbgp", "5_telcom", "5_union"},
	PublicIPCountMin:   0,
	PhoneCountPerIPMin: 1,
	VolumeTypes:        []string{"SSD", "GPSSD"},
	VolumeSizeGiB:      intRange{10, 32768},
	BandWidthCharge:    []intChoice{{0, "by bandwidth"}, {1, "by traffic"}},
	BandWidthShare: []intChoice{
		{bandWidthDedicated, "dedicated"},
		{bandWidthShared, "shared"},
	},
	BandWidthSizeMin: 1,
}

// periodType returns the rule of period type v, and false when v is not one.
func (t *ruleTable) periodType(v int) (periodType, bool) {
	for _, p := range t.PeriodTypes {
		if p.Value == v {
			return p, true
		}
	}
	return periodType{}, false
}

// anyPeriodNum is the range of period_num over all period types, checked when the period type
// itself is missing or wrong and so cannot say which range applies.
func (t *ruleTable) anyPeriodNum() intRange {
	r := t.PeriodTypes[0].Num
	for _, p := range t.PeriodTypes[1:] {
		r.Min = min(r.Min, p.Num.Min)
		r.Max = max(r.Max, p.Num.Max)
	}
	return r
}

// periodChoices lists the period types as intChoices, for the "must be one of" message.
func (t *ruleTable) periodChoices() []intChoice {
	cs := make([]intChoice, len(t.PeriodTypes))
	for i, p := range t.PeriodTypes {
		cs[i] = intChoice{p.Value, p.Unit}
	}
	return cs
}

// hasInt reports whether v is one of cs.
func hasInt(cs []intChoice, v int) bool {
	return slices.ContainsFunc(cs, func(c intChoice) bool { return c.Value == v })
}

// hasString reports whether v is one of list, exactly (the API's value lists are case-sensitive).
func hasString(list []string, v string) bool {
	return slices.Contains(list, v)
}

// intChoicesText writes cs as "0 (by bandwidth), 1 (by traffic)".
func intChoicesText(cs []intChoice) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strconv.Itoa(c.Value) + " (" + c.Meaning + ")"
	}
	return strings.Join(parts, ", ")
}

// quotedAlternatives writes list as `"adb" or "vnc"`.
func quotedAlternatives(list []string) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = strconv.Quote(s)
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}
