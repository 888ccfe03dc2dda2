package client_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/api"
	"github.com/fluxhook/fluxhook/client"
)

type schema struct {
	Ref        string            `json:"$ref"`
	AllOf      []schema          `json:"allOf"`
	Properties map[string]schema `json:"properties"`
	Required   []string          `json:"required"`
}

// TestTypesMatchContract holds the client's types to the schemas of
// api/openapi.json: the same property names, and a request field sent
// even when empty (no omitempty) only where the contract requires it.
func TestTypesMatchContract(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(api.OpenAPI), &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(s schema) (props map[string]bool, required []string) {
		props = map[string]bool{}
		var walk func(schema)
		walk = func(s schema) {
			if s.Ref != "" {
				walk(doc.Components.Schemas[s.Ref[strings.LastIndexByte(s.Ref, '/')+1:]])
			}
			for _, p := range s.AllOf {
				walk(p)
			}
			for name := range s.Properties {
				props[name] = true
			}
			required = append(required, s.Required...)
		}
		walk(s)
		return props, required
	}
	tests := []struct {
		v       any
		schema  string
		request bool
	}{
		{client.User{}, "User", false},
		{client.AuthResponse{}, "AuthResponse", false},
		{client.SignUpRequest{}, "SignUpCredentials", true},
		{client.ClientKey{}, "ClientKey", false},
		{client.CreateClientKeyRequest{}, "CreateClientKeyRequest", true},
		{client.CreateClientKeyResponse{}, "CreateClientKeyResponse", false},
		{client.UpdateClientKeyRequest{}, "UpdateClientKeyRequest", true},
		{client.Webhook{}, "Webhook", false},
		{client.WebhookRequest{}, "CreateWebhookRequest", true},
		{client.WebhookRequest{}, "UpdateWebhookRequest", true},
		{client.TestResult{}, "TestWebhookResponse", false},
		{client.Delivery{}, "WebhookDelivery", false},
		{client.PublishResult{}, "PublishEventResponse", false},
		{client.BatchEvent{}, "PublishEventRequest", true},
		{client.ReplayRequest{}, "ReplayWebhookRequest", true},
		{client.Replay{}, "Replay", false},
		{client.Payload{}, "WebhookPayload", false},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("no schema %s in api/openapi.json", tt.schema)
			}
			props, required := resolve(s)
			typ := reflect.TypeOf(tt.v)
			mine := map[string]bool{}
			for i := range typ.NumField() {
				tag := typ.Field(i).Tag.Get("json")
				name, opts, _ := strings.Cut(tag, ",")
				if name == "" || name == "-" {
					continue
				}
				mine[name] = true
				if !props[name] {
					t.Errorf("%s.%s (%s): not in the contract", typ.Name(), typ.Field(i).Name, name)
				}
				if tt.request && !strings.Contains(opts, "omitempty") && !slices.Contains(required, name) {
					t.Errorf("%s.%s is always sent, but %s is optional in the contract", typ.Name(), typ.Field(i).Name, name)
				}
			}
			for name := range props {
				if !mine[name] {
					t.Errorf("%s: the contract's %s has no field in %s", tt.schema, name, typ.Name())
				}
			}
		})
	}
}
