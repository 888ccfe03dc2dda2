package api_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/fluxhook/fluxhook/api"
)

const docURL = "https://fluxhook.invalid/api/openapi.json"

func document(t *testing.T) map[string]any {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(api.OpenAPI))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc.(map[string]any)
}

// TestDocumentIsOpenAPI31 validates the document against the OpenAPI 3.1
// meta-schema (testdata/README.md says where it comes from).
func TestDocumentIsOpenAPI31(t *testing.T) {
	f, err := os.Open("testdata/openapi-3.1-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const metaURL = "https://spec.openapis.org/oas/3.1/schema/fluxhook-testdata"
	if err := c.AddResource(metaURL, meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(metaURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(document(t)); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
}

// TestSchemasAreJSONSchema compiles every schema of the document as JSON
// Schema 2020-12, which checks each against the draft's meta-schema and
// resolves every $ref in it.
func TestSchemasAreJSONSchema(t *testing.T) {
	doc := document(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		if _, err := c.Compile(docURL + "#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	// Every other $ref (responses, headers) leads somewhere.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok && !resolves(doc, r) {
				t.Errorf("%s: $ref %q leads nowhere", at, r)
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for _, x := range v {
				walk(x, at+"/[]")
			}
		}
	}
	walk(doc, "")
}

func resolves(doc map[string]any, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var v any = doc
	for _, tok := range strings.Split(ptr, "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]; !ok {
			return false
		}
	}
	return true
}

// TestSDKTypeNames keeps the schema names the published @fluxbase/sdk
// (and so the seeds' code) uses for these shapes: SDKs generated from
// or checked against this document rely on them.
func TestSDKTypeNames(t *testing.T) {
	schemas := document(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{
		"ClientKey", "CreateClientKeyRequest", "CreateClientKeyResponse", "UpdateClientKeyRequest",
		"ListClientKeysResponse", "RevokeClientKeyResponse", "DeleteClientKeyResponse",
		"Webhook", "CreateWebhookRequest", "UpdateWebhookRequest", "ListWebhooksResponse", "DeleteWebhookResponse",
		"WebhookDelivery", "ListWebhookDeliveriesResponse", "TestWebhookResponse", "WebhookPayload",
		"Invitation", "CreateInvitationRequest", "CreateInvitationResponse", "ListInvitationsResponse",
		"ValidateInvitationResponse", "AcceptInvitationRequest", "AcceptInvitationResponse", "RevokeInvitationResponse",
		"AuthResponse", "AdminAuthResponse", "User", "AdminUser", "Role", "MessageResponse", "Error",
		"SignInCredentials", "SignUpCredentials", "UpdateUserAttributes", "WebhookDeliveryStatus",
		"RotateWebhookSecretResponse", "InvitationRole", "PublishEventResponse",
	} {
		if schemas[name] == nil {
			t.Errorf("components.schemas has no %s", name)
		}
	}
}

func TestOperationIDsAreUnique(t *testing.T) {
	var ids []string
	for path, item := range document(t)["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			id, _ := op.(map[string]any)["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s has no operationId", method, path)
			} else if slices.Contains(ids, id) {
				t.Errorf("operationId %s is used twice", id)
			}
			ids = append(ids, id)
		}
	}
}
