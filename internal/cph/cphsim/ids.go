package cphsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"time"
)

// newID returns 32 random hex characters, the shape of the API's request and server ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read crashes the program instead)
	return hex.EncodeToString(b[:])
}

const orderIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newOrderID returns an id shaped like the API's ("CS1710111105S8IPB": CS, the minute, random
// letters and digits), with ten random characters instead of five so that benchmarks placing
// hundreds of thousands of orders a minute do not collide; the store still checks uniqueness.
func newOrderID(now time.Time) string {
	var b [10]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = orderIDAlphabet[int(b[i])%len(orderIDAlphabet)]
	}
	return "CS" + now.UTC().Format("0601021504") + string(b[:])
}

// productID derives a stable product id from the flavor, in the shape of the API's example
// ("00301-25217-0--0"): the same flavor always buys the same product.
func productID(serverModelName string) string {
	h := fnv.New32a()
	h.Write([]byte(serverModelName))
	return fmt.Sprintf("00301-%05d-0--0", h.Sum32()%100000)
}

// newToken returns an opaque token in the spirit of IAM's (which start with "MII").
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "MIIsim" + hex.EncodeToString(b[:])
}
