package httpapi

import "net/http"

// RouteTable returns the ServeMux that routes.go fills, so that the
// contract test can ask which route table pattern serves a request.
func RouteTable() *http.ServeMux {
	return (&Server{}).routes().(jsonMux).ServeMux
}
