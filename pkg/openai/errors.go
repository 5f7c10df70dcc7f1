// Package openai holds the parts of the OpenAI HTTP API the gateway speaks itself:
// the error envelope, the chat completion request it validates and rewrites, and
// the model list it answers from configuration.
package openai

import (
	"encoding/json"
	"net/http"
)

// Error types used in the "type" field of an error, as OpenAI uses them.
const (
	TypeInvalidRequest     = "invalid_request_error"
	TypeAuthentication     = "authentication_error"
	TypePermission         = "permission_error"
	TypeNotFound           = "not_found_error"
	TypeRateLimitRequests  = "requests"
	TypeRateLimitTokens    = "tokens"
	TypeInsufficientQuota  = "insufficient_quota"
	TypeServer             = "server_error"
	TypeServiceUnavailable = "service_unavailable"
	TypeTimeout            = "timeout_error"
)

// Error is the body of an OpenAI error response. Param and Code are null in JSON
// when empty, as OpenAI sends them.
type Error struct {
	// Status is the HTTP status the error is sent with; it is not serialised.
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param,omitempty"`
	Code    string `json:"code,omitempty"`
}

// Error implements error so policy code can return *Error directly.
func (e *Error) Error() string { return e.Message }

type wireError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Body serialises the error in OpenAI's envelope: {"error":{...}}.
func (e *Error) Body() []byte {
	w := wireError{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		w.Param = &e.Param
	}
	if e.Code != "" {
		w.Code = &e.Code
	}
	b, err := json.Marshal(struct {
		Error wireError `json:"error"`
	}{w})
	if err != nil { // cannot happen for strings; keep a valid body regardless
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return b
}

// InvalidRequest is a 400 naming the offending field.
func InvalidRequest(param, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Message: message}
}

// InvalidAPIKey is the 401 OpenAI returns for a missing or wrong key.
func InvalidAPIKey(message string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: TypeInvalidRequest, Code: "invalid_api_key", Message: message}
}

// ModelNotFound is the 404 for a model that does not exist or the key may not use.
func ModelNotFound(model string) *Error {
	return &Error{
		Status:  http.StatusNotFound,
		Type:    TypeInvalidRequest,
		Param:   "model",
		Code:    "model_not_found",
		Message: "The model `" + model + "` does not exist or you do not have access to it.",
	}
}

// NotFound is the 404 for an unknown path.
func NotFound(method, path string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "unknown_url",
		Message: "Unknown request URL: " + method + " " + path + ". Please check the URL for typos."}
}

// MethodNotAllowed is the 405 for a known path with the wrong method.
func MethodNotAllowed(method, path string) *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: "method_not_allowed",
		Message: "Method " + method + " is not allowed for " + path + "."}
}

// ServiceUnavailable is a 503 telling the client the gateway cannot serve now.
func ServiceUnavailable(code, message string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: TypeServiceUnavailable, Code: code, Message: message}
}

// ServerError is a 500 without internals.
func ServerError(message string) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Message: message}
}
