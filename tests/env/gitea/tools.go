//go:build tools

// Package tools makes gitea.dev (Gitea's main package) a dependency of this wrapper module.
package tools

import _ "gitea.dev"
