package cphsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"cphpurchase/internal/cph/cphsim"
)

// BenchmarkPurchase measures the simulator under parallel purchases over real HTTP, the load a
// worker benchmark puts on it.
func BenchmarkPurchase(b *testing.B) {
	sim := cphsim.New(cphsim.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body, _ := json.Marshal(purchaseBody("bench-"+strconv.FormatInt(n.Add(1), 10), 1))
			res, err := client.Post(ts.URL+"/v2/"+project+"/cloud-phone/servers", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}

// BenchmarkListByName measures reconciliation's call against a simulator holding many servers.
func BenchmarkListByName(b *testing.B) {
	sim := cphsim.New(cphsim.Options{})
	ts := httptest.NewServer(sim)
	defer ts.Close()
	for i := range 10000 {
		body, _ := json.Marshal(purchaseBody("srv-"+strconv.Itoa(i), 1))
		res, err := http.Post(ts.URL+"/v2/"+project+"/cloud-phone/servers", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(ts.URL + "/v1/" + project + "/cloud-phone/servers?server_name=srv-4242")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}
