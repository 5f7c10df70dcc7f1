package e2e

import "github.com/llm-gateway/gateway/pkg/auth"

func hashKey(key string) string { return auth.HashKey(key) }
