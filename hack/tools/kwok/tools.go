//go:build tools

// Package tools pins kwok so `go build` resolves it from this module.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
