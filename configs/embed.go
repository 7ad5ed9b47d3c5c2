// Package configs holds the files that ship inside the binary: the working-day
// calendar, the district's units and the IVR prompts. A deployment can point
// the configuration at directories that override each of them.
package configs

import "embed"

// Calendar holds calendar/YEAR.json, the holiday-cn data (MIT, see calendar/LICENSE).
//
//go:embed calendar/*.json
var Calendar embed.FS

// Units holds units.yaml, the district's service units.
//
//go:embed units.yaml
var Units []byte
