// Package schema holds hac's CUE schema, the single source of truth for the
// configuration's fields, defaults, docs and per-field constraints. It is
// embedded in the binary; the compiler unifies every cluster with
// [ClusterDef] and hac schema prints [Source].
package schema

import _ "embed"

// Source is the schema's CUE source.
//
//go:embed schema.cue
var Source []byte

// Filename is the name the schema carries in positions, kept apart from the
// user's files so that diagnostics can skip it.
const Filename = "hac/schema.cue"

// ClusterDef is the path of the definition every cluster is unified with.
const ClusterDef = "#Cluster"
