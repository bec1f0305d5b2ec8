// Package templates embeds the template library, so `aos serve` and the console offer it
// without the source tree.
package templates

import "embed"

// Files holds every template of the library, by file name.
//
//go:embed *.yaml
var Files embed.FS
