package cph

import "testing"

func TestExampleRequestIsValidAndFresh(t *testing.T) {
	a, b := ExampleRequest("a-1"), ExampleRequest("b-1")
	if errs := a.Validate(); len(errs) > 0 {
		t.Fatalf("the example request is invalid: %v", errs)
	}
	if a.ServerName != "a-1" || !a.AutoPay() || a.ServerCount() != 1 {
		t.Fatalf("example = %+v", a)
	}
	*a.Count = 5
	if b.ServerCount() != 1 {
		t.Fatal("two example requests share their values")
	}
}
