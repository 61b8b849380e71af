package cphsim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Options shape one simulator. The zero value is a fast, open, fault-free API: no latency, no
// auth check, no rate limit, every purchase succeeds.
type Options struct {
	// Latency is added to every API call before it is answered, to make timeouts and concurrency
	// matter as they do against the real endpoint.
	Latency time.Duration
	// Seed makes the random fault choice repeatable: see PurchaseCall and the package doc.
	Seed int64
	// Per purchase call probabilities of each fault; their sum must not exceed 1.
	ThrottleRate, FailBeforeRate, FailAfterRate, HangRate, DropRate, RejectRate, LateCommitRate float64
	// RejectCode is the error code of random rejections and of a FaultReject without a code;
	// default CPS.0006 (account in arrears).
	RejectCode string
	// RetryAfter is sent with every 429, in whole seconds, at least 1; default 1s.
	RetryAfter time.Duration
	// HangFor bounds a FaultHangAfterCommit, default 2m; the hang ends early when the client goes
	// away.
	HangFor time.Duration
	// LateCommitAfter is how long after its 504 a FaultLateCommit commits the order, default 5s,
	// for random late commits and for a decided Fault whose After is 0. It is measured on a real
	// timer, not on Now.
	LateCommitAfter time.Duration
	// RateLimit is the purchase calls per second the whole fleet may send; 0 means unlimited.
	// Calls beyond it get 429 APIGW.0308, place no order and count as Stats.RateLimitViolations.
	// The limit is a token bucket of RateLimit per second holding at most max(1, RateLimit)
	// tokens, so a fleet limiter with a burst no larger than one second's worth never trips it.
	RateLimit float64
	// TokenTTL is the lifetime of IAM tokens, default 24h as on the real IAM.
	TokenTTL time.Duration
	// Tokens are accepted without IAM, as a CPH_TOKEN would be. When Tokens is empty and IAMUser
	// is empty, tokens are not checked at all (only tokens that ExpireTokens revoked or that
	// expired are refused).
	Tokens []string
	// IAMUser, IAMPassword and IAMDomain are the one IAM user that POST /v3/auth/tokens accepts.
	IAMUser, IAMPassword, IAMDomain string
	// Decide, when set, chooses the fault for every purchase call instead of the rates, so a test
	// can script exactly which attempt fails how. It is called without any lock held and may be
	// called concurrently.
	Decide func(PurchaseCall) Fault
	// CreateTime is how long the servers of an order, and their phones, stay creating after the
	// order is placed (or paid, for an order that waits for payment) before they show their Fate;
	// 0 means at once, as before the lifecycle existed.
	CreateTime time.Duration
	// PhonesPerServer is how many phones each server has; default DefaultPhonesPerServer.
	PhonesPerServer int
	// Per order probabilities of each Fate but FateReady; their sum must not exceed 1.
	AbnormalRate, PhoneFailRate, NeverReadyRate float64
	// Lifecycle, when set, chooses the Fate of every committed order instead of the rates. It is
	// called without any lock held and may be called concurrently.
	Lifecycle func(OrderCall) Fate
	// Now is the simulator's clock (create times, token expiry, rate limit, recorded times);
	// default time.Now. Tests move it instead of sleeping.
	Now func() time.Time
}

// Option defaults.
const (
	DefaultRetryAfter = time.Second
	DefaultHangFor    = 2 * time.Minute
	DefaultTokenTTL   = 24 * time.Hour
	DefaultRejectCode = "CPS.0006"

	DefaultLateCommitAfter = 5 * time.Second
	DefaultPhonesPerServer = 2
)

// Validate reports options that New would refuse, so that a command line can report them as a
// usage error instead of a panic.
func (o Options) Validate() error {
	var errs []string
	rates := []struct {
		name string
		v    float64
	}{
		{"throttle rate", o.ThrottleRate}, {"fail-before rate", o.FailBeforeRate},
		{"fail-after rate", o.FailAfterRate}, {"hang rate", o.HangRate},
		{"drop rate", o.DropRate}, {"reject rate", o.RejectRate},
		{"late-commit rate", o.LateCommitRate},
	}
	sum := 0.0
	for _, r := range rates {
		if !validRate(r.v) {
			errs = append(errs, fmt.Sprintf("%s must be between 0 and 1, got %v", r.name, r.v))
		}
		sum += r.v
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Sprintf("fault rates add up to %v, more than 1", sum))
	}
	fates := 0.0
	for _, r := range []struct {
		name string
		v    float64
	}{{"abnormal rate", o.AbnormalRate}, {"phone-fail rate", o.PhoneFailRate}, {"never-ready rate", o.NeverReadyRate}} {
		if !validRate(r.v) {
			errs = append(errs, fmt.Sprintf("%s must be between 0 and 1, got %v", r.name, r.v))
		}
		fates += r.v
	}
	if fates > 1+1e-9 {
		errs = append(errs, fmt.Sprintf("lifecycle rates add up to %v, more than 1", fates))
	}
	if o.PhonesPerServer < 0 {
		errs = append(errs, fmt.Sprintf("phones per server must not be negative, got %d", o.PhonesPerServer))
	}
	if o.RateLimit < 0 || math.IsNaN(o.RateLimit) || math.IsInf(o.RateLimit, 0) {
		errs = append(errs, fmt.Sprintf("rate limit must be 0 (unlimited) or positive, got %v", o.RateLimit))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"latency", o.Latency}, {"retry-after", o.RetryAfter}, {"hang-for", o.HangFor},
		{"late-commit-after", o.LateCommitAfter}, {"token TTL", o.TokenTTL}, {"create time", o.CreateTime},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Sprintf("%s must not be negative, got %v", d.name, d.v))
		}
	}
	if o.IAMUser != "" && o.IAMPassword == "" {
		errs = append(errs, "an IAM user needs an IAM password")
	}
	if len(errs) > 0 {
		return errors.New("cphsim: invalid options: " + strings.Join(errs, "; "))
	}
	return nil
}

// withDefaults fills in the documented defaults.
func (o Options) withDefaults() Options {
	if o.RetryAfter == 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.HangFor == 0 {
		o.HangFor = DefaultHangFor
	}
	if o.LateCommitAfter == 0 {
		o.LateCommitAfter = DefaultLateCommitAfter
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.RejectCode == "" {
		o.RejectCode = DefaultRejectCode
	}
	if o.PhonesPerServer == 0 {
		o.PhonesPerServer = DefaultPhonesPerServer
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Tokens = append([]string(nil), o.Tokens...)
	return o
}

// retryAfterSeconds is the Retry-After header value: whole seconds, rounded up, at least 1.
func (o Options) retryAfterSeconds() int64 {
	s := int64((o.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}
