package openai

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/sjson"
)

// RewriteChatRequest returns body with the model replaced by the provider's model
// name and, for streams, stream_options.include_usage forced on so the provider
// reports usage the gateway can account. Every other byte of the client's body is
// kept; sjson edits in place rather than re-encoding the whole document.
func RewriteChatRequest(body []byte, req *ChatRequest, providerModel string) ([]byte, error) {
	out := body
	var err error
	if providerModel != req.Model {
		out, err = sjson.SetBytes(out, "model", providerModel)
		if err != nil {
			return nil, fmt.Errorf("rewrite model: %w", err)
		}
	}
	if req.Stream && !req.IncludeUsage {
		out, err = sjson.SetBytes(out, "stream_options.include_usage", true)
		if err != nil {
			return nil, fmt.Errorf("rewrite stream_options: %w", err)
		}
	}
	return out, nil
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// ModelListBody serialises the models in OpenAI's list shape.
func ModelListBody(ids []string, created int64, ownedBy string) []byte {
	list := ModelList{Object: "list", Data: make([]Model, 0, len(ids))}
	for _, id := range ids {
		list.Data = append(list.Data, Model{ID: id, Object: "model", Created: created, OwnedBy: ownedBy})
	}
	b, _ := json.Marshal(list) // plain strings and ints always marshal
	return b
}

// ModelBody serialises one model object (GET /v1/models/{id}).
func ModelBody(id string, created int64, ownedBy string) []byte {
	b, _ := json.Marshal(Model{ID: id, Object: "model", Created: created, OwnedBy: ownedBy})
	return b
}
