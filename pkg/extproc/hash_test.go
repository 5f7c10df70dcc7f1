package extproc

import "github.com/llm-gateway/gateway/pkg/auth"

func hashOf(key string) string { return auth.HashKey(key) }
