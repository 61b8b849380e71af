package cph

// The status codes that tell how far an order has come after its purchase: a server's, a phone's
// and a BSS order's. They are kept here, in one place, with what each means for an order being
// created; docs/cph-api.md ("Following an order to readiness") gives their sources.

// Phase is what a status code says about a server or a phone being created.
type Phase string

// Phases.
const (
	// PhaseCreating: not done yet, or a code that says nothing about creation (an order keeps
	// waiting on it, until its deadline).
	PhaseCreating Phase = "creating"
	// PhaseCreated: the creation is over and it worked.
	PhaseCreated Phase = "created"
	// PhaseFailed: the creation is over and it failed.
	PhaseFailed Phase = "failed"
)

// Server status codes: 0, 1, 3 and 4 creating, 2 abnormal, 5 running, 8 frozen, 10 stopped,
// 11 stopping, 12 stop failed, 13 starting ([list], [sdk] model_server.go).
const (
	ServerStatusCreating = 1
	ServerStatusAbnormal = 2
	ServerStatusRunning  = 5
	ServerStatusFrozen   = 8
	ServerStatusStopped  = 10
)

// serverPhases is Huawei's Terraform provider's reading of a server's status while it waits for
// one it bought: 5, 8 and 10 complete the creation, 2 fails it, every other code is pending.
var serverPhases = map[int]Phase{
	ServerStatusAbnormal: PhaseFailed,
	ServerStatusRunning:  PhaseCreated,
	ServerStatusFrozen:   PhaseCreated,
	ServerStatusStopped:  PhaseCreated,
}

// ServerPhase is what a server's status says about its creation.
func ServerPhase(status int) Phase { return phaseOf(serverPhases, status) }

// Phone status codes: 0 (older SDKs) and 1 creating, 2 running, 3 resetting, 4 restarting,
// 6 frozen, 7 shutting down, 8 shut down, -5 reset failed, -6 restart failed, -7 abnormal,
// -8 creation failed, -9 shutdown failed ([sdk] model_phone.go).
const (
	PhoneStatusCreating       = 1
	PhoneStatusRunning        = 2
	PhoneStatusFrozen         = 6
	PhoneStatusShutDown       = 8
	PhoneStatusAbnormal       = -7
	PhoneStatusCreationFailed = -8
)

// phonePhases reads a phone the way serverPhases reads its server: running, frozen and shut down
// are created; abnormal and creation failed are failures; every other code (creating, or a reset or
// restart under way) is pending.
var phonePhases = map[int]Phase{
	PhoneStatusRunning:        PhaseCreated,
	PhoneStatusFrozen:         PhaseCreated,
	PhoneStatusShutDown:       PhaseCreated,
	PhoneStatusAbnormal:       PhaseFailed,
	PhoneStatusCreationFailed: PhaseFailed,
}

// PhonePhase is what a phone's status says about its creation.
func PhonePhase(status int) Phase { return phaseOf(phonePhases, status) }

func phaseOf(table map[int]Phase, status int) Phase {
	if p, ok := table[status]; ok {
		return p
	}
	return PhaseCreating
}

// Payment is what a BSS order's status says about its payment.
type Payment string

// Payments.
const (
	// PaymentAwaiting: the order waits for its customer to pay it (status 6).
	PaymentAwaiting Payment = "awaiting_payment"
	// PaymentProcessing: any other status on the way (pending approval, processing, …).
	PaymentProcessing Payment = "processing"
	// PaymentCompleted: paid and done (status 5).
	PaymentCompleted Payment = "completed"
	// PaymentCancelled: the order was cancelled (status 4); it creates nothing.
	PaymentCancelled Payment = "cancelled"
)

// BSS customer order status codes: 1 pending approval, 2 pending refund, 3 processing,
// 4 cancelled, 5 completed, 6 pending payment, 9 pending confirmation, 10–13 delivery states
// ([sdk] bss/v2 model_customer_order_v3.go).
const (
	OrderStatusCancelled      = 4
	OrderStatusCompleted      = 5
	OrderStatusPendingPayment = 6
)

// orderPayments: Terraform waits on 2, 3 and 6 for 5; a cancelled order never completes.
var orderPayments = map[int]Payment{
	OrderStatusCancelled:      PaymentCancelled,
	OrderStatusCompleted:      PaymentCompleted,
	OrderStatusPendingPayment: PaymentAwaiting,
}

// OrderPayment is what a BSS order's status says about its payment.
func OrderPayment(status int) Payment {
	if p, ok := orderPayments[status]; ok {
		return p
	}
	return PaymentProcessing
}
