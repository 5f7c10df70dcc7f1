package e2e

import (
	"net/http"

	"github.com/openai/openai-go/v3/option"
)

func optionResponse(dst **http.Response) option.RequestOption { return option.WithResponseInto(dst) }
