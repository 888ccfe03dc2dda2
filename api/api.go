// Package api holds the contract of Fluxhook's HTTP API: an OpenAPI 3.1
// document (openapi.json), embedded so that the server can serve it at
// GET /api/v1/openapi.json and the API tests can hold every handler's
// answers to it. Edit openapi.json with the handler it describes; the
// tests in internal/httpapi fail when the two disagree.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document, as JSON. A string, so that no
// caller can change it.
//
//go:embed openapi.json
var OpenAPI string
