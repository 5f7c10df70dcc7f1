package e2e

import (
	"os"

	"github.com/llm-gateway/gateway/pkg/auth"
)

func hashKey(key string) string { return auth.HashKey(key) }

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
