package intake

import (
	_ "embed"
	"net/http"
)

// document is the intake's OpenAPI 3 document, the source of truth for its clients. Its tests
// validate it, and every response of the intake against it, with kin-openapi.
//
//go:embed openapi.json
var document []byte

// serveDocument serves GET /v1/openapi.json.
func serveDocument(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(document)
}
