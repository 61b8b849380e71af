package cph

import "testing"

// The status tables read every documented code the way docs/cph-api.md says, and an unknown
// code as still creating, so that it ends in a deadline rather than in a wrong verdict.
func TestStatusTables(t *testing.T) {
	servers := []struct {
		status int
		want   Phase
	}{
		{0, PhaseCreating}, {1, PhaseCreating}, {3, PhaseCreating}, {4, PhaseCreating},
		{2, PhaseFailed},
		{5, PhaseCreated}, {8, PhaseCreated}, {10, PhaseCreated},
		{11, PhaseCreating}, {12, PhaseCreating}, {13, PhaseCreating}, {99, PhaseCreating},
	}
	for _, tc := range servers {
		if got := ServerPhase(tc.status); got != tc.want {
			t.Errorf("ServerPhase(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
	phones := []struct {
		status int
		want   Phase
	}{
		{0, PhaseCreating}, {1, PhaseCreating}, {3, PhaseCreating}, {4, PhaseCreating}, {7, PhaseCreating},
		{2, PhaseCreated}, {6, PhaseCreated}, {8, PhaseCreated},
		{-7, PhaseFailed}, {-8, PhaseFailed},
		{-5, PhaseCreating}, {-6, PhaseCreating}, {-9, PhaseCreating}, {42, PhaseCreating},
	}
	for _, tc := range phones {
		if got := PhonePhase(tc.status); got != tc.want {
			t.Errorf("PhonePhase(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
	orders := []struct {
		status int
		want   Payment
	}{
		{1, PaymentProcessing}, {2, PaymentProcessing}, {3, PaymentProcessing}, {9, PaymentProcessing},
		{4, PaymentCancelled}, {5, PaymentCompleted}, {6, PaymentAwaiting}, {0, PaymentProcessing},
	}
	for _, tc := range orders {
		if got := OrderPayment(tc.status); got != tc.want {
			t.Errorf("OrderPayment(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
}
